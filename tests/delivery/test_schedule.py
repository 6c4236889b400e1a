"""The retry schedule is a pure function: tested without Redis or a clock."""

from __future__ import annotations

import random

import pytest

from relay.config import Settings
from relay.delivery.attempt import DeliveryOutcome, classify
from relay.delivery.schedule import error_backoff_s, next_attempt_at, parse_retry_after

DEFAULT = Settings.retry_schedule_s


def test_default_schedule_is_standard_webhooks() -> None:
    delays = [next_attempt_at(n, 0, schedule=DEFAULT, rand=lambda: 0.5) for n in range(1, 8)]

    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert next_attempt_at(8, 0, schedule=DEFAULT) is None  # eight attempts, then dead


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.8), (1.0, 1.2), (0.25, 0.9)])
def test_jitter_stays_within_twenty_percent(rand: float, factor: float) -> None:
    assert next_attempt_at(2, 1000, schedule=DEFAULT, rand=lambda: rand) == pytest.approx(1000 + 300 * factor)


def test_timeouts_and_429_wait_at_least_the_floor() -> None:
    assert next_attempt_at(1, 0, schedule=DEFAULT, throttled=True, rand=lambda: 0.5) == 60
    assert next_attempt_at(2, 0, schedule=DEFAULT, throttled=True, rand=lambda: 0.5) == 300


def test_retry_after_is_honoured_and_capped() -> None:
    assert next_attempt_at(1, 0, schedule=DEFAULT, retry_after_s=120, rand=lambda: 0.5) == 120
    assert next_attempt_at(3, 0, schedule=DEFAULT, retry_after_s=1, rand=lambda: 0.5) == 1800
    assert next_attempt_at(1, 0, schedule=DEFAULT, retry_after_s=10**9, rand=lambda: 0.5) == 86_400


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("Thu, 01 Jan 1970 00:02:00 GMT", 60.0), ("soon", None), (None, None), ("-5", None)],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=60) == seconds


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, DeliveryOutcome.SUCCEEDED),
        (204, DeliveryOutcome.SUCCEEDED),
        (301, DeliveryOutcome.REDIRECTED),
        (410, DeliveryOutcome.GONE),
        (429, DeliveryOutcome.THROTTLED),
        (404, DeliveryOutcome.HTTP_ERROR),
        (500, DeliveryOutcome.HTTP_ERROR),
    ],
)
def test_classify(status: int, outcome: DeliveryOutcome) -> None:
    assert classify(status) is outcome


def test_jitter_leaves_the_global_random_state_alone() -> None:
    """Hypothesis (the schemathesis test) fails a draw when the shared ``random`` state moves under it, as a relay
    thread backing off from a slow Redis used to make it do."""
    state = random.getstate()
    delays = {next_attempt_at(2, 0.0, schedule=[0, 5, 300]) for _ in range(20)}
    backoffs = {error_backoff_s(3) for _ in range(20)}
    assert random.getstate() == state
    assert len(delays) > 1 and len(backoffs) > 1  # still jittered
