"""When a task is first polled, how often after that, and when the relay gives up on it: pure functions."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from relay.config import Settings
from relay.delivery.schedule import RETRY_AFTER_CAP_S
from relay.tasks.catalog import DEFAULT_DEADLINES_S

JITTER = 0.1
# Past this many polls the interval stays at its cap: 2**12 times any sane base is far beyond it.
MAX_DOUBLINGS = 12


@dataclass(frozen=True, slots=True)
class Schedule:
    """The polling schedule (``RELAY_TASKS_*``).

    :param deadline_s: when > 0, every task's deadline; else its provider's default.
    :param horizon_s: from registration, when an unfinished task is given up (``task.timed_out``).
    :param interval_s: the first interval between polls; it doubles per poll up to ``max_interval_s``.
    """

    deadline_s: float
    horizon_s: float
    interval_s: float
    max_interval_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        return cls(
            deadline_s=settings.tasks_deadline_s,
            horizon_s=settings.tasks_horizon_s,
            interval_s=settings.tasks_poll_interval_s,
            max_interval_s=settings.tasks_poll_max_interval_s,
        )

    def deadlines(
        self, provider: str, now_ms: int, deadline_s: float | None = None, horizon_s: float | None = None
    ) -> tuple[int, int]:
        """``(deadline_ms, horizon_ms)`` of a task registered (or first heard of) at ``now_ms``."""
        deadline = deadline_s if deadline_s is not None else (self.deadline_s or DEFAULT_DEADLINES_S.get(provider, 600))
        horizon = horizon_s if horizon_s is not None else self.horizon_s
        deadline_ms = now_ms + int(deadline * 1000)
        # At least one poll before giving up.
        return deadline_ms, max(now_ms + int(horizon * 1000), deadline_ms + int(self.interval_s * 1000))

    def track(self, provider: str, service: str, now_ms: int) -> tuple[int, int]:
        """The store's hook for tasks first heard of through a progress callback."""
        return self.deadlines(provider, now_ms)

    def next_poll_ms(
        self, polls: int, now_ms: int, retry_after_s: float | None = None, rand: Callable[[], float] = random.random
    ) -> int:
        """When to poll again after ``polls`` polls: doubling from ``interval_s`` to ``max_interval_s``, jittered,
        never sooner than a ``Retry-After`` asked (capped at a day)."""
        delay = min(self.interval_s * 2 ** min(polls, MAX_DOUBLINGS), self.max_interval_s)
        delay *= 1 + JITTER * (2 * rand() - 1)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, RETRY_AFTER_CAP_S))
        return now_ms + int(delay * 1000)
