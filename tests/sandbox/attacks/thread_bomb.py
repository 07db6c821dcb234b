import threading
import time

threads = []
while True:
    try:
        t = threading.Thread(target=time.sleep, args=(60,))
        t.start()
        threads.append(t)
    except RuntimeError:
        pass
