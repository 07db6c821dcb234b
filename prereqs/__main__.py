import sys

from prereqs.check import main

sys.exit(main())
