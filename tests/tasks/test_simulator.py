"""The provider simulator itself: a task's final callback is sent whatever clock the simulator keeps."""

from __future__ import annotations

import math
import time

import pytest

from relay.simulate.app import SimConfig, Simulator, create_simulator_app
from tests.delivery.subscriber import serve_subscriber, wait_for
from tests.servers import run_server
from tests.tasks.conftest import SIM_KEY, Sim, submit

pytestmark = pytest.mark.anyio


def coarse_clock() -> float:
    """Wall time in 0.2 s ticks (as on systems with a coarse clock): it lags asyncio's timers by up to a tick."""
    return math.floor(time.time() * 5) / 5


async def test_the_final_callback_is_sent_although_the_simulators_clock_lags_asyncios() -> None:
    # 0.3 s ends mid-tick: asyncio wakes on time, the coarse clock still reads 0.1 s short of the end.
    simulator = Simulator(SimConfig(api_key=SIM_KEY, duration_s=0.3), clock=coarse_clock)
    with serve_subscriber() as receiver, run_server(create_simulator_app(simulator)) as url:
        task_id = await submit(Sim(simulator, url), "kie", f"{receiver.url}/callback")
        await wait_for(lambda: receiver.at("/callback"), 5, "the final callback")
    assert [c["outcome"] for c in simulator.log.callbacks] == [200]
    assert receiver.at("/callback")[0].body.count(task_id.encode()) >= 1
