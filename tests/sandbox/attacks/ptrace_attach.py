import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
PTRACE_TRACEME, PTRACE_ATTACH = 0, 16
for request, pid in ((PTRACE_TRACEME, 0), (PTRACE_ATTACH, 1), (PTRACE_ATTACH, os.getppid())):
    if libc.ptrace(request, pid, None, None) == 0:
        print("ESCAPED: ptrace", request, pid)
    else:
        print("blocked ptrace", request, pid, os.strerror(ctypes.get_errno()))
