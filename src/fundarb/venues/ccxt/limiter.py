"""A per-account request budget, shared by every client of the account in the process.

A token bucket on the event loop's clock (so a fast-forwarded test loop runs it at speed);
callers that must wait queue by :class:`Priority`, so a cancel or a hedge goes out before
new orders and polling that were waiting longer. No background task: a waiting caller is
woken by a timer the bucket sets for the next token.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import ClassVar

from fundarb.errors import ConfigError

__all__ = ["AccountRateLimiter", "Priority"]


class Priority(IntEnum):
    """Who goes first when the budget is short (lower first)."""

    CANCEL = 0  # cancels, and looking up orders of unknown fate: they limit exposure
    HEDGE = 1  # orders that reduce or hedge exposure
    ORDER = 2  # new orders
    POLL = 3  # market data, balances, positions


class AccountRateLimiter:
    """``rate_per_s`` requests a second on average, bursts of up to ``burst``.

    ``async with limiter.slot(Priority.CANCEL): ...`` waits for a token. Use
    :meth:`shared` to get the one limiter of an account.
    """

    _shared: ClassVar[dict[str, AccountRateLimiter]] = {}

    def __init__(self, *, rate_per_s: float = 10.0, burst: int = 10) -> None:
        if not rate_per_s > 0:
            raise ConfigError(f"rate_per_s must be positive, got {rate_per_s}")
        if burst < 1:
            raise ConfigError(f"burst must be 1 or more, got {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._stamp: float | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def shared(
        cls, account: str, *, rate_per_s: float = 10.0, burst: int = 10
    ) -> AccountRateLimiter:
        """The process-wide limiter of ``account`` (created with these limits on first use).

        ``account`` is an opaque key (e.g. venue and a hash of the API key), never a secret.
        """
        limiter = cls._shared.get(account)
        if limiter is None:
            limiter = cls._shared[account] = cls(rate_per_s=rate_per_s, burst=burst)
        return limiter

    def __repr__(self) -> str:
        return f"AccountRateLimiter(rate_per_s={self.rate_per_s:g}, burst={self.burst})"

    @asynccontextmanager
    async def slot(self, priority: Priority = Priority.POLL) -> AsyncIterator[None]:
        await self.acquire(priority)
        yield

    async def acquire(self, priority: Priority = Priority.POLL) -> None:
        """Wait for a token; waiters of a lower ``priority`` value go first."""
        self._refill()
        if not self._waiters and self._tokens >= 1:
            self._tokens -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._order), future))
        self._schedule()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._tokens += 1  # granted as we were cancelled: give it back
                self._dispatch()
            raise

    def _refill(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._stamp is not None:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._stamp) * self.rate_per_s
            )
        self._stamp = now

    def _dispatch(self) -> None:
        self._timer = None
        self._refill()
        while self._waiters and self._tokens >= 1:
            _, _, future = heapq.heappop(self._waiters)
            if future.done():  # its caller was cancelled while waiting
                continue
            self._tokens -= 1
            future.set_result(None)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None or not any(not f.done() for _, _, f in self._waiters):
            return
        loop = asyncio.get_running_loop()
        wait_s = max(0.0, (1 - self._tokens) / self.rate_per_s)
        self._timer = loop.call_later(wait_s, self._dispatch)
