for path in (
    "/atlas_pwned",
    "/usr/atlas_pwned",
    "/sandbox/atlas_pwned",
    "/dev/atlas_pwned",
    "/lib/atlas_pwned",
    "/usr/lib/python3.11/atlas_pwned.py",
):
    try:
        with open(path, "w") as f:
            f.write("pwned")
        print("ESCAPED: wrote", path)
    except OSError as exc:
        print("blocked", path, exc)
