"""Fast-forwarded time for simulated runs (the demo, and tests that run days).

On a fast-forwarded loop (``looptime``'s), the clock jumps to the next timer whenever
nothing can happen meanwhile, so three simulated days cost only the CPU they need. Real
work outside the loop must hold the clock still: a thread's result may be about to wake a
task. ``looptime`` knows about ``run_in_executor``; SQLite (``aiosqlite``) runs each
statement on its own thread and hands back a future that ``looptime`` cannot see, so
without :func:`track_sqlite` every database call would let simulated minutes pass.

::

    with track_sqlite():
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import Iterator
from typing import Any

import aiosqlite.core
import looptime

__all__ = ["new_loop", "track_sqlite"]

_SYNC_FUTURES = "_LoopTimeEventLoop__sync_futures"  # looptime's set of external futures


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop whose clock starts at 0 and fast-forwards."""
    return looptime.new_event_loop(start=0)


def _hold_clock(future: asyncio.Future[Any]) -> None:
    """Make ``future`` (resolved by another thread) hold the loop's clock until it is done."""
    futures = getattr(future.get_loop(), _SYNC_FUTURES, None)
    if futures is not None:
        futures.add(future)


class _HoldingLoop:
    """The running loop, except that the futures it creates hold a fast-forwarded clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def create_future(self) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        _hold_clock(future)
        return future

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


@contextlib.contextmanager
def track_sqlite() -> Iterator[None]:
    """While inside, SQLite calls on a fast-forwarded loop hold its clock (module docstring).
    On an ordinary loop nothing changes. (``aiosqlite`` makes each call's future with
    ``asyncio.get_event_loop().create_future()``; it is given a loop whose futures hold.)"""
    shim = types.SimpleNamespace(**vars(asyncio))
    shim.get_event_loop = lambda: _HoldingLoop(asyncio.get_event_loop())
    original = aiosqlite.core.asyncio  # type: ignore[attr-defined]
    aiosqlite.core.asyncio = shim  # type: ignore[attr-defined,assignment]
    try:
        yield
    finally:
        aiosqlite.core.asyncio = original  # type: ignore[attr-defined]
