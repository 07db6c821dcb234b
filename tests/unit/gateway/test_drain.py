"""The shutdown clock: only its own expiry turns a cancellation into DrainExpiredError."""

from __future__ import annotations

import asyncio

import pytest

from gateway.drain import Drain, DrainExpiredError


async def _bounded_sleep(drain: Drain) -> None:
    with drain.bounded():
        await asyncio.sleep(10)


async def test_expiry_cuts_the_answers_in_flight() -> None:
    drain = Drain(grace_s=0.05)
    task = asyncio.ensure_future(_bounded_sleep(drain))
    await asyncio.sleep(0)
    drain.begin()
    assert drain.draining and not drain.expired
    with pytest.raises(DrainExpiredError):
        await asyncio.wait_for(task, 2)
    assert drain.expired
    with pytest.raises(DrainExpiredError):  # nothing new starts once it has expired
        await _bounded_sleep(drain)


async def test_other_cancellations_stay_cancellations() -> None:
    drain = Drain(grace_s=5)
    task = asyncio.ensure_future(_bounded_sleep(drain))
    await asyncio.sleep(0)
    drain.begin()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
