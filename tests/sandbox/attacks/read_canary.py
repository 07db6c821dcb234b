import os

for path in ("/tmp/atlas-sandbox-canary", "/work/main/.env", "/root/.atlas-canary"):
    try:
        with open(path) as f:
            print("ESCAPED:", path, f.read())
    except OSError as exc:
        print("blocked", path, exc)
# Look everywhere the jail lets us: nothing of the host's secrets should be visible.
# (The marker is built at run time so this very file does not contain it.)
marker = b"-".join([b"ATLAS", b"CANARY"])
for root, _dirs, files in os.walk("/"):
    if root.startswith(("/usr", "/lib")):
        continue
    for name in files:
        try:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read(1 << 16)
        except OSError:
            continue
        if marker in data:
            print("ESCAPED: canary in", os.path.join(root, name), data[:200])
