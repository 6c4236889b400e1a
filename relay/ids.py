"""Relay identifiers: time-sortable, unguessable, and carrying their storage partition."""

from __future__ import annotations

import secrets

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EVENT_PREFIX = "evt_"


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


def partition_of(event_id: str) -> int | None:
    """The partition an event id was stored in, or None for anything that is not an event id."""
    if not event_id.startswith(EVENT_PREFIX) or len(event_id) != len(EVENT_PREFIX) + 28:
        return None
    body = event_id[len(EVENT_PREFIX) : -2]
    if any(char not in _CROCKFORD for char in body):
        return None
    try:
        return int(event_id[-2:], 16)
    except ValueError:
        return None
