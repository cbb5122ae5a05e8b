"""CPU time a coroutine spends between its awaits: parsing and normalising, not the network.

:func:`metered` drives a coroutine step by step, as the event loop's task would, and adds
the thread's CPU time of each step to a :class:`CpuMeter`. Time spent waiting (for the
network, a sleep, a lock) is not a step and is not counted; neither is work other tasks do
meanwhile. Cancellation and errors reach the coroutine and come back unchanged.
"""

from __future__ import annotations

import time
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["CpuMeter", "metered"]

T = TypeVar("T")


class CpuMeter:
    """Seconds of CPU time counted by :func:`metered` (it only ever grows)."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0

    def __repr__(self) -> str:
        return f"CpuMeter(seconds={self.seconds:.6f})"


@types.coroutine
def metered(coro: Coroutine[Any, Any, T], meter: CpuMeter) -> Generator[Any, Any, T]:
    """Await ``coro``, adding the CPU time of its steps to ``meter``."""
    value: Any = None
    error: BaseException | None = None
    while True:
        started = time.thread_time()
        try:
            if error is None:
                yielded = coro.send(value)
            else:
                yielded, error = coro.throw(error), None
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            meter.seconds += time.thread_time() - started
        try:
            value = yield yielded  # a future the task waits on: not counted
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, e.g. a cancel
            value, error = None, exc
