import sys

while True:
    chunk = sys.stdin.buffer.read(1 << 20)
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
