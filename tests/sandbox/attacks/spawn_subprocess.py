import subprocess

for argv in (["/bin/sh", "-c", "cat /etc/shadow"], ["/usr/bin/env"], ["/bin/bash", "-c", "id"]):
    try:
        out = subprocess.run(argv, capture_output=True, timeout=1)
        print("ESCAPED: ran", argv, out.stdout[:200])
    except (OSError, subprocess.SubprocessError) as exc:
        print("blocked", argv, exc)
