"""Relay identifiers: time-sortable, unguessable, and carrying their storage partition."""

from __future__ import annotations

import secrets

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EVENT_PREFIX = "evt_"
DELIVERY_PREFIX = "dlv_"
SUBSCRIPTION_PREFIX = "sub_"


def ulid(now_ms: int) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32, so ids sort by creation time."""
    value = (now_ms & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_event_id(now_ms: int, partition: int) -> str:
    # The two hex digits at the end name the partition, so a lookup by id finds the right Redis slot.
    return f"{EVENT_PREFIX}{ulid(now_ms)}{partition:02x}"


def partition_of(event_id: str, prefix: str = EVENT_PREFIX) -> int | None:
    """The partition an event (or delivery) id was stored in, or None for anything that is not such an id."""
    if not event_id.startswith(prefix) or len(event_id) != len(prefix) + 28:
        return None
    body = event_id[len(prefix) : -2]
    if any(char not in _CROCKFORD for char in body):
        return None
    try:
        return int(event_id[-2:], 16)
    except ValueError:
        return None


def new_delivery_id(now_ms: int, partition: int) -> str:
    # A delivery lives in its event's partition; like an event id, its id names it.
    return f"{DELIVERY_PREFIX}{ulid(now_ms)}{partition:02x}"


def new_subscription_id(now_ms: int) -> str:
    return f"{SUBSCRIPTION_PREFIX}{ulid(now_ms)}"


def ulid_time_prefix(now_ms: int) -> str:
    """The first 10 characters of every ULID made at ``now_ms``: lexicographic bounds for id ranges."""
    return ulid(now_ms)[:10]


def ms_of(ulid_id: str, prefix: str) -> int:
    """The creation time (ms) encoded in a relay id."""
    value = 0
    for char in ulid_id[len(prefix) : len(prefix) + 10]:
        value = value * 32 + _CROCKFORD.index(char)
    return value
