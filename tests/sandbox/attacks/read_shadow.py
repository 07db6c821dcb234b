for path in ("/etc/shadow", "/etc/gshadow", "/root/.bash_history", "/root/.ssh/id_rsa"):
    try:
        with open(path) as f:
            print("ESCAPED:", path, f.read()[:200])
    except OSError as exc:
        print("blocked", path, exc)
