"""When to try a failed delivery again: a pure function of the attempt count, the clock and the answer.

The default schedule (``RELAY_RETRY_SCHEDULE_S``) is Standard Webhooks': immediately, 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 10 h. Step ``n`` is the delay before attempt ``n + 1``; after the last step the delivery is dead.
Each delay gets up to ±``jitter`` (20 %) so retries of one outage do not arrive together. After a timeout or a
429 the delay is at least ``min_after_throttle_s`` (60 s), and a ``Retry-After`` answer is honoured (capped).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP_S = 86_400.0
# Jitter from a generator of our own, not the random module's shared one: an embedding program (or a test tool such
# as hypothesis, which flags any change to the global state while it draws) keeps its sequence to itself.
_jitter = random.Random().random


def next_attempt_at(
    attempts: int,
    now: float,
    *,
    schedule: Sequence[float],
    jitter: float = 0.2,
    throttled: bool = False,
    retry_after_s: float | None = None,
    min_after_throttle_s: float = 60.0,
    rand: Callable[[], float] = _jitter,
) -> float | None:
    """The time of the next attempt after ``attempts`` failed ones, or None when the schedule is exhausted."""
    if attempts >= len(schedule):
        return None
    delay = schedule[attempts] * (1 + jitter * (2 * rand() - 1))
    if throttled:
        delay = max(delay, min_after_throttle_s)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, RETRY_AFTER_CAP_S))
    return now + delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)


def error_backoff_s(
    failures: int, *, base_s: float = 0.05, cap_s: float = 2.0, rand: Callable[[], float] = _jitter
) -> float:
    """How long the worker waits after ``failures`` consecutive errors talking to Redis (1 for the first one).

    Exponential and capped, with "equal jitter" (half fixed, half random): several workers that lost the same Redis
    come back spread out, and none waits less than half its step.
    """
    step: float = min(cap_s, base_s * 2.0 ** max(failures - 1, 0))
    return step / 2 + rand() * step / 2
