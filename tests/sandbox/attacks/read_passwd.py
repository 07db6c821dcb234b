for path in ("/etc/passwd", "/etc/hostname", "/etc/hosts"):
    try:
        with open(path) as f:
            print("ESCAPED:", path, f.read()[:200])
    except OSError as exc:
        print("blocked", path, exc)
