import os

for path in ("/proc", "/proc/1", "/sys", "/sys/fs/cgroup", "/dev"):
    try:
        entries = os.listdir(path)
        visible = [e for e in entries if e not in ("null", "urandom")]
        if visible:
            print("ESCAPED: listed", path, visible[:20])
        else:
            print("only the allowed devices in", path)
    except OSError as exc:
        print("blocked", path, exc)
