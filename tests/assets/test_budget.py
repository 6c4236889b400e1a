"""The uploads' byte budget: never more reserved than the limit, first come first served, cancellation-safe."""

from __future__ import annotations

import asyncio
import random

import pytest

from relay.assets.budget import ByteBudget

pytestmark = pytest.mark.anyio


async def test_never_more_reserved_than_the_limit() -> None:
    budget = ByteBudget(100)
    held: list[int] = []
    most = 0
    rng = random.Random(7)

    async def upload(amount: int) -> None:
        nonlocal most
        async with budget.hold(amount):
            held.append(amount)
            most = max(most, sum(held))
            await asyncio.sleep(rng.random() / 500)
            held.remove(amount)

    async with asyncio.timeout(10):
        await asyncio.gather(*(upload(rng.choice([1, 5, 20, 40, 60])) for _ in range(200)))
    assert 60 < most <= 100  # uploads did overlap (positive control), never past the limit
    assert budget.reserved == 0


async def test_a_large_reservation_is_not_starved_by_small_ones() -> None:
    budget = ByteBudget(10)
    order: list[str] = []
    release = asyncio.Event()

    async def hold(name: str, amount: int, until: asyncio.Event | None = None) -> None:
        async with budget.hold(amount):
            order.append(name)
            if until is not None:
                await until.wait()

    async with asyncio.timeout(5), asyncio.TaskGroup() as group:
        group.create_task(hold("first", 6, release))
        await asyncio.sleep(0)
        group.create_task(hold("large", 8))
        await asyncio.sleep(0)
        group.create_task(hold("small", 2))  # would fit beside "first", but "large" came before it
        await asyncio.sleep(0.01)
        assert order == ["first"]
        release.set()
    assert order == ["first", "large", "small"]


async def test_more_than_the_limit_runs_alone() -> None:
    budget = ByteBudget(10)
    async with asyncio.timeout(5):
        async with budget.hold(1_000):
            assert budget.reserved == 10
            waiting = asyncio.create_task(_enter(budget, 1))
            await asyncio.sleep(0.01)
            assert not waiting.done()
        await waiting
    assert budget.reserved == 0


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    budget = ByteBudget(10)
    async with asyncio.timeout(5):
        async with budget.hold(10):
            cancelled = asyncio.create_task(_enter(budget, 5))
            after = asyncio.create_task(_enter(budget, 5))
            await asyncio.sleep(0.01)
            cancelled.cancel()
            await asyncio.sleep(0.01)
            assert not after.done()
        await after
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert budget.reserved == 0
    async with budget.hold(10):  # all of it free again
        pass


async def _enter(budget: ByteBudget, amount: int) -> None:
    async with budget.hold(amount):
        await asyncio.sleep(0)


async def test_a_waiter_cancelled_just_as_it_was_granted_releases() -> None:
    budget = ByteBudget(10)
    async with asyncio.timeout(5):
        async with budget.hold(10):
            granted = asyncio.create_task(_enter(budget, 5))
            await asyncio.sleep(0.01)
        assert budget.reserved == 5  # granted on release, not yet running
        granted.cancel()
        with pytest.raises(asyncio.CancelledError):
            await granted
    assert budget.reserved == 0
