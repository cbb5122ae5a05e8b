"""The per-account limiter: a token bucket on the loop clock, cancels before polling."""

from __future__ import annotations

import asyncio

import pytest

from fundarb.errors import ConfigError
from fundarb.venues.ccxt import AccountRateLimiter, Priority


async def test_burst_then_the_rate() -> None:
    limiter = AccountRateLimiter(rate_per_s=10, burst=2)
    loop = asyncio.get_running_loop()
    start = loop.time()

    for _ in range(4):
        await limiter.acquire(Priority.POLL)

    assert loop.time() - start == pytest.approx(0.2, abs=0.02)


async def test_waiting_cancels_go_before_waiting_polls() -> None:
    limiter = AccountRateLimiter(rate_per_s=1, burst=1)
    await limiter.acquire()  # the bucket is empty now
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await limiter.acquire(priority)
        order.append(name)

    async with asyncio.TaskGroup() as group:
        group.create_task(call("poll", Priority.POLL))
        group.create_task(call("order", Priority.ORDER))
        await asyncio.sleep(0)
        group.create_task(call("cancel", Priority.CANCEL))

    assert order == ["cancel", "order", "poll"]


async def test_a_cancelled_waiter_gives_way() -> None:
    limiter = AccountRateLimiter(rate_per_s=1, burst=1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire(Priority.POLL))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    async with asyncio.timeout(1.5):
        await limiter.acquire(Priority.ORDER)


def test_shared_per_account_and_validated() -> None:
    assert AccountRateLimiter.shared("binanceusdm:abc") is AccountRateLimiter.shared(
        "binanceusdm:abc"
    )
    assert AccountRateLimiter.shared("binanceusdm:abc") is not AccountRateLimiter.shared("x:y")
    with pytest.raises(ConfigError):
        AccountRateLimiter(rate_per_s=0)
    with pytest.raises(ConfigError):
        AccountRateLimiter(burst=0)
