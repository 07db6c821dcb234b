"""The system packages ATLAS's set-up commands need, checked before they run.

`make test` and `make run` call `python -m prereqs GROUP...` first: with everything
present it is a silent no-op of a few milliseconds; as root with apt-get it installs
what is missing; otherwise it prints the exact `sudo apt-get install -y ...` line and
exits 1 before any long step. Standard library only, so it runs before the virtualenv
exists, on any Python 3 the Makefile finds.
"""

from prereqs.check import EXIT_MISSING, EXIT_OK, EXIT_USAGE, Missing, ensure, find_missing, main
from prereqs.needs import GROUPS, Need
from prereqs.system import System, install_command

__all__ = [
    "EXIT_MISSING",
    "EXIT_OK",
    "EXIT_USAGE",
    "GROUPS",
    "Missing",
    "Need",
    "System",
    "ensure",
    "find_missing",
    "install_command",
    "main",
]
