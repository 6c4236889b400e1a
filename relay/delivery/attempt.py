"""One delivery attempt: sign the fixed body anew, POST it, and classify what happened.

Exceptions stop here: every transport error, timeout or refused target becomes a :class:`DeliveryOutcome`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from relay import __version__
from relay.delivery.schedule import parse_retry_after
from relay.delivery.transport import RESPONSE_KEEP_BYTES, ConnectFailed, DeliveryClient, ProtocolFailed
from relay.errors import TargetRefused, TargetUnresolved
from relay.signing import webhook_headers

USER_AGENT = f"relay/{__version__} (+https://www.standardwebhooks.com)"


class DeliveryOutcome(StrEnum):
    SUCCEEDED = "succeeded"  # 2xx within the timeout
    REDIRECTED = "redirected"  # 3xx: never followed, a failure
    GONE = "gone"  # 410: the subscriber asks to be disabled
    THROTTLED = "throttled"  # 429: retry no sooner than Retry-After / the throttle floor
    HTTP_ERROR = "http_error"  # any other status
    TIMEOUT = "timeout"  # no complete answer within the timeout
    CONNECT_ERROR = "connect_error"  # refused, reset, TLS failure
    BLOCKED = "blocked"  # the target resolved to an address the relay must not call (SSRF)
    ERROR = "error"  # anything else on the wire (protocol errors, ...)

    @property
    def throttles(self) -> bool:
        return self in (DeliveryOutcome.THROTTLED, DeliveryOutcome.TIMEOUT)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: DeliveryOutcome
    at: float
    latency_ms: float
    status_code: int | None = None
    error: str | None = None
    response: str = ""
    retry_after_s: float | None = None


def classify(status_code: int) -> DeliveryOutcome:
    if 200 <= status_code < 300:
        return DeliveryOutcome.SUCCEEDED
    if status_code == 410:
        return DeliveryOutcome.GONE
    if status_code == 429:
        return DeliveryOutcome.THROTTLED
    if 300 <= status_code < 400:
        return DeliveryOutcome.REDIRECTED
    return DeliveryOutcome.HTTP_ERROR


async def attempt(
    http: DeliveryClient,
    *,
    url: str,
    msg_id: str,
    body: bytes,
    secrets: Sequence[str],
    extra_headers: Mapping[str, str],
    timeout_s: float,
    now: float,
) -> AttemptResult:
    """POST ``body`` to ``url`` signed with ``secrets`` (newest first); never raises for network trouble."""
    headers = dict(extra_headers)
    headers.update(webhook_headers(secrets, msg_id, int(now), body))
    headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
    started = time.perf_counter()

    def result(outcome: DeliveryOutcome, **fields: object) -> AttemptResult:
        latency = (time.perf_counter() - started) * 1000
        return AttemptResult(outcome=outcome, at=now, latency_ms=round(latency, 1), **fields)  # type: ignore[arg-type]

    try:
        # The connect timeout bounds one phase; this bounds the whole exchange, a trickling answer included.
        async with asyncio.timeout(timeout_s):
            answer = await http.post(url, headers, body)
    except TargetUnresolved as exc:
        return result(DeliveryOutcome.CONNECT_ERROR, error=exc.message)  # DNS: perhaps later, not an SSRF refusal
    except TargetRefused as exc:
        return result(DeliveryOutcome.BLOCKED, error=exc.message)
    except TimeoutError:
        return result(DeliveryOutcome.TIMEOUT, error=f"no answer within {timeout_s} s")
    except ConnectFailed as exc:
        return result(DeliveryOutcome.CONNECT_ERROR, error=str(exc))
    except OSError as exc:
        return result(DeliveryOutcome.CONNECT_ERROR, error=f"{type(exc).__name__}: {exc}")
    except (ProtocolFailed, ValueError) as exc:
        return result(DeliveryOutcome.ERROR, error=f"{type(exc).__name__}: {exc}")
    return result(
        classify(answer.status_code),
        status_code=answer.status_code,
        response=answer.body[:RESPONSE_KEEP_BYTES].decode("utf-8", "replace"),
        retry_after_s=parse_retry_after(answer.retry_after, now),
    )
