import os

print("environ:", dict(os.environ))
for path in ("/proc/self/environ", "/proc/1/environ", "/proc/self/cmdline"):
    try:
        with open(path, "rb") as f:
            print(path, f.read()[:4000])
    except OSError as exc:
        print("blocked", path, exc)
