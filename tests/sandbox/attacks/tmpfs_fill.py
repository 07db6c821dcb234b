written = 0
try:
    with open("/tmp/fill", "wb") as f:
        while written < 4 * 1024**3:
            f.write(b"\0" * (1024 * 1024))
            f.flush()
            written += 1024 * 1024
    print("ESCAPED: /tmp accepted", written, "bytes")
except OSError as exc:
    print("blocked after", written, "bytes:", exc)
