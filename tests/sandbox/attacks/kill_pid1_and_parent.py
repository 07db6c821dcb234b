import os
import signal

for pid in (1, os.getppid(), -1):
    try:
        os.kill(pid, signal.SIGKILL)
        print("signal sent to", pid)
    except OSError as exc:
        print("blocked kill", pid, exc)
print("still here")
