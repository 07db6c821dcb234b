"""The heap trimmer hands memory that glibc holds free back to the OS."""

from __future__ import annotations

import asyncio
import ctypes
from pathlib import Path

import pytest

from gateway.heap_trim import FREE_THRESHOLD_BYTES, Glibc, heap_trimming

CHUNK = 64 * 1024  # below glibc's mmap threshold: these come from the heap, not mmap
COUNT = 2000  # 128 MB


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def glibc_or_skip() -> Glibc:
    glibc = Glibc.load()
    if glibc is None:
        pytest.skip("not glibc")
    return glibc


def fragment_heap(libc: ctypes.CDLL) -> list[int]:
    """Allocate and touch 128 MB, then free all but every 100th chunk, so the free
    memory is held between live chunks where glibc's automatic trim cannot reach."""
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    chunks = [libc.malloc(CHUNK) for _ in range(COUNT)]
    for chunk in chunks:
        ctypes.memset(chunk, 1, CHUNK)
    kept = chunks[::100]
    for chunk in chunks:
        if chunk not in kept:
            libc.free(chunk)
    return kept


def release(libc: ctypes.CDLL, kept: list[int]) -> None:
    for chunk in kept:
        libc.free(chunk)


def test_free_heap_is_reported_and_returned() -> None:
    glibc = glibc_or_skip()
    libc = ctypes.CDLL(None)
    kept = fragment_heap(libc)
    try:
        assert glibc.free_bytes() >= FREE_THRESHOLD_BYTES
        held = rss_bytes()
        assert glibc.trim() >= FREE_THRESHOLD_BYTES
        assert rss_bytes() < held - 64 * 1024 * 1024
    finally:
        release(libc, kept)


async def test_the_trimmer_runs_by_itself_and_stops() -> None:
    glibc_or_skip()
    libc = ctypes.CDLL(None)
    async with heap_trimming(0.05):
        kept = fragment_heap(libc)
        try:
            held = rss_bytes()
            for _ in range(100):
                await asyncio.sleep(0.05)
                if rss_bytes() < held - 64 * 1024 * 1024:
                    break
            assert rss_bytes() < held - 64 * 1024 * 1024
        finally:
            release(libc, kept)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "heap-trim"]


async def test_zero_turns_it_off() -> None:
    async with heap_trimming(0):
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "heap-trim"]
