import time

time.sleep(60)
print("ESCAPED: slept past the wall limit")
