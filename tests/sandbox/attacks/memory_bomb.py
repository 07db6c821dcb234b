hoard = []
while True:
    hoard.append(bytearray(8 * 1024 * 1024))
    for i in range(0, len(hoard[-1]), 4096):
        hoard[-1][i] = 1
