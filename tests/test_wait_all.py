"""`wait_all`: a cancelled caller never leaves its children running."""

from __future__ import annotations

import asyncio

import pytest

from weex_async._cancel import wait_all


async def test_a_caller_cancelled_twice_returns_only_after_every_child_is_done() -> None:
    # Before the fix a second cancel interrupted the wind-down: the caller returned while its
    # children were still running (a batch cancel still on the wire after the run "ended").
    release = asyncio.Event()
    started = 0

    async def child() -> None:
        nonlocal started
        started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # winding down takes a while (an answer being read)
            raise

    children = [asyncio.ensure_future(child()) for _ in range(3)]
    caller = asyncio.ensure_future(wait_all(children))
    await asyncio.sleep(0)
    assert started == 3
    caller.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    caller.cancel()  # again, while the children wind down
    for _ in range(5):
        await asyncio.sleep(0)
    assert not caller.done()  # still waiting for its children
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert all(task.done() for task in children)


async def test_an_error_of_a_child_is_retrieved_when_the_caller_is_cancelled() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("while winding down") from None

    child = asyncio.ensure_future(fails_on_cancel())
    caller = asyncio.ensure_future(wait_all([child]))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert child.done()
    assert child._log_traceback is False  # noqa: SLF001 - retrieved: no "never retrieved" log
