"""Memory that comes back: hand heap that glibc holds free back to the OS.

After a burst (many streams, large answers) Python frees its buffers, but glibc keeps
the freed chunks inside its heaps: measured here, RSS stayed at 3.5x its pre-burst level
for good. `malloc_trim(0)` returns those pages. It runs in a worker thread (it walks the
heaps), and only when glibc reports at least `FREE_THRESHOLD_BYTES` held free, so a
steady gateway never pays for it. Elsewhere than glibc there is nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

FREE_THRESHOLD_BYTES = 16 * 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class Glibc:
    """The two glibc calls used; `load()` is None where they are missing."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self._mallinfo2 = libc.mallinfo2
        self._mallinfo2.restype = _MallInfo2
        self._malloc_trim = libc.malloc_trim
        self._malloc_trim.argtypes = [ctypes.c_size_t]

    @classmethod
    def load(cls) -> Glibc | None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name)
            return cls(libc) if hasattr(libc, "mallinfo2") else None
        except OSError:
            return None

    def free_bytes(self) -> int:
        """Bytes glibc holds free in its heaps (not mmapped chunks: those go back at once)."""
        return int(self._mallinfo2().fordblks)

    def trim(self) -> int:
        """Return free heap pages to the OS; the bytes that were held free before."""
        held = self.free_bytes()
        self._malloc_trim(0)
        return held


async def trim_forever(glibc: Glibc, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        held = await asyncio.to_thread(glibc.free_bytes)
        if held >= FREE_THRESHOLD_BYTES:
            await asyncio.to_thread(glibc.trim)
            logger.debug("heap trim: returned up to %d MB to the OS", held >> 20)


@contextlib.asynccontextmanager
async def heap_trimming(interval_s: float) -> AsyncIterator[None]:
    """Trim every `interval_s` while the block runs; 0 turns it off."""
    glibc = Glibc.load() if interval_s > 0 else None
    if glibc is None:
        yield
        return
    task = asyncio.create_task(trim_forever(glibc, interval_s), name="heap-trim")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
