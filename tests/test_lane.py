"""The paced lane of large callbacks: one turn at a time, and a rest after each in proportion to its length."""

from __future__ import annotations

import asyncio

import pytest

from relay.lane import PacedLane

pytestmark = pytest.mark.anyio

TURN_S = 0.1
# asyncio may run a timer up to its clock resolution early, and a busy machine runs it late: bounds, not equality.
EARLY_S = 0.01


async def _timed_turn(lane: PacedLane, hold_s: float, starts: list[float], ends: list[float]) -> None:
    loop = asyncio.get_running_loop()
    async with lane.turn():
        starts.append(loop.time())
        await asyncio.sleep(hold_s)
        ends.append(loop.time())


async def test_turns_run_one_at_a_time_and_rest_in_proportion_to_their_length() -> None:
    lane = PacedLane(share=1 / 3)
    starts: list[float] = []
    ends: list[float] = []
    await asyncio.gather(*(_timed_turn(lane, TURN_S, starts, ends) for _ in range(3)))

    for previous in range(2):
        turn = ends[previous] - starts[previous]
        # A third of the time: a rest of twice the turn before the next one begins.
        assert starts[previous + 1] - ends[previous] >= 2 * turn - EARLY_S


async def test_a_share_of_one_never_rests() -> None:
    lane = PacedLane(share=1)
    starts: list[float] = []
    ends: list[float] = []
    await asyncio.gather(*(_timed_turn(lane, TURN_S, starts, ends) for _ in range(2)))

    assert starts[1] >= ends[0]  # still one at a time
    assert starts[1] - ends[0] < TURN_S  # positive control for the rest above: no rest at all here


async def test_the_rest_is_capped() -> None:
    lane = PacedLane(share=1 / 3, max_rest_s=0.05)
    starts: list[float] = []
    ends: list[float] = []
    await asyncio.gather(*(_timed_turn(lane, 3 * TURN_S, starts, ends) for _ in range(2)))

    rested = starts[1] - ends[0]
    assert 0.05 - EARLY_S <= rested < 6 * TURN_S - EARLY_S  # the cap, not twice the turn


async def test_the_caller_goes_on_while_the_lane_rests() -> None:
    lane = PacedLane(share=1 / 3)
    loop = asyncio.get_running_loop()
    async with lane.turn():
        await asyncio.sleep(TURN_S)
    left = loop.time()
    # Out of the turn at once (the rest is not awaited by the caller), while the lane is still resting.
    assert lane.locked()
    await asyncio.sleep(0)
    assert loop.time() - left < TURN_S
    async with asyncio.timeout(10):
        async with lane.turn():
            entered = loop.time()
    assert entered - left >= 2 * TURN_S - EARLY_S


async def test_a_turn_that_fails_still_rests_and_frees_the_lane() -> None:
    lane = PacedLane(share=1 / 2)
    with pytest.raises(RuntimeError):
        async with lane.turn():
            raise RuntimeError("the callback could not be stored")
    async with asyncio.timeout(10):
        async with lane.turn():
            pass
    assert lane.locked()  # resting after the second turn, which came through


async def test_a_waiter_that_gives_up_does_not_take_the_lane() -> None:
    lane = PacedLane(share=1)
    async with lane.turn():
        waiter = asyncio.create_task(_timed_turn(lane, 0, [], []))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with asyncio.timeout(10):
        async with lane.turn():
            pass


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        PacedLane(share=share)
