import os

for path in ("/tmp/sparse", "/sandbox/sparse", "/atlas_pwned_sparse"):
    try:
        with open(path, "wb") as f:
            f.seek(50 * 1024**3)
            f.write(b"x")
        print("ESCAPED: wrote a 50 GiB sparse file at", path, os.path.getsize(path))
    except OSError as exc:
        print("blocked", path, exc)
