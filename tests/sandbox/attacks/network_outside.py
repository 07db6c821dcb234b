import socket

for family, kind, addr in (
    (socket.AF_INET, socket.SOCK_STREAM, ("1.1.1.1", 80)),
    (socket.AF_INET, socket.SOCK_DGRAM, ("8.8.8.8", 53)),
    (socket.AF_PACKET, socket.SOCK_RAW, None),
    (socket.AF_NETLINK, socket.SOCK_RAW, None),
):
    try:
        with socket.socket(family, kind) as s:
            if addr is None:
                print("ESCAPED: opened a raw socket", family)
                continue
            s.settimeout(1)
            s.connect(addr)
            s.send(b"x")
            print("ESCAPED: reached", addr)
    except OSError as exc:
        print("blocked", family, exc)
try:
    print("ESCAPED: resolved", socket.gethostbyname("example.com"))
except OSError as exc:
    print("blocked dns", exc)
