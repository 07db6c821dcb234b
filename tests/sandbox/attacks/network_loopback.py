import socket
import sys

port = int(sys.stdin.read().strip() or "1")
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect((host, port))
            print("ESCAPED: connected to", host, port)
    except OSError as exc:
        print("blocked", host, exc)
