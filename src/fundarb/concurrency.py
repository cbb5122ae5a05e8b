"""Sections that must finish even when their caller is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

__all__ = ["finish_shielded", "run_all"]

T = TypeVar("T")


async def finish_shielded(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to completion even if the calling task is cancelled meanwhile.

    Cleanup, hedges and rollbacks run through this: a cancellation that arrives while they
    run is held back until they finish, then re-raised, so shutting down never leaves an
    order open or a leg naked. The work runs in a task this function owns and awaits.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise  # the work itself was cancelled
            cancelled = True  # hold the caller's cancellation until the work is done
            continue
        break
    if cancelled:
        raise asyncio.CancelledError
    return result


async def run_all(work: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``work`` concurrently in a task group; results in order.

    If one fails the others are cancelled and the first failure is raised as itself (not
    wrapped in an exception group), so callers catch fundarb's errors as usual.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(item) for item in work]
    except* Exception as failed:  # noqa: BLE001 - re-raised unchanged, unwrapped
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
