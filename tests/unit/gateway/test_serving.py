"""The write timeout: a connection whose writing stays paused too long is aborted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.serving import (
    H11WithWriteTimeout,
    HttpToolsWithWriteTimeout,
    WriteClock,
    http_protocol,
)

pytestmark = pytest.mark.timeout(5)


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = 0

    def abort(self) -> None:
        self.aborted += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5) if name == "peername" else default


async def test_paused_past_the_deadline_aborts() -> None:
    transport = Transport()
    clock = WriteClock(transport, 0.05)
    clock.paused()
    clock.paused()  # a second pause keeps the first deadline
    await asyncio.sleep(0.1)
    assert transport.aborted == 1


async def test_resumed_in_time_is_left_alone() -> None:
    transport = Transport()
    clock = WriteClock(transport, 0.05)
    for _ in range(3):
        clock.paused()
        await asyncio.sleep(0.03)
        clock.resumed()
    await asyncio.sleep(0.06)
    assert transport.aborted == 0


def test_protocol_classes_carry_their_timeout() -> None:
    fast = http_protocol(0.5)
    assert issubclass(fast, HttpToolsWithWriteTimeout)
    assert fast.write_timeout_s == 0.5  # type: ignore[attr-defined]
    assert issubclass(http_protocol(2, "h11"), H11WithWriteTimeout)
    assert HttpToolsWithWriteTimeout.write_timeout_s == 30.0
