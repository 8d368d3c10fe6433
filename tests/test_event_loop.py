"""The suite runs on the event loop ``WEEX_TEST_LOOP`` names (``nox -s tests-uvloop``: uvloop)."""

from __future__ import annotations

import asyncio

from .conftest import TEST_LOOP


async def test_the_suite_runs_on_the_loop_asked_for() -> None:
    module = type(asyncio.get_running_loop()).__module__
    assert module.split(".")[0] == TEST_LOOP


def test_asyncio_run_in_a_test_uses_it_too() -> None:
    async def module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert asyncio.run(module()).split(".")[0] == TEST_LOOP
