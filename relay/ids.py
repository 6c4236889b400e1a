"""Relay identifiers: time-sortable, unguessable, and carrying their storage partition."""

from __future__ import annotations

import os

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class _Entropy:
    """os.urandom read in blocks: one system call per 400 ids instead of one per id, which showed in profiles."""

    def __init__(self, block_bytes: int = 4000) -> None:
        self.block_bytes = block_bytes
        self.block = b""
        self.offset = 0

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.block):
            self.block, self.offset = os.urandom(self.block_bytes), 0
        chunk = self.block[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def discard(self) -> None:
        self.block, self.offset = b"", 0


_entropy = _Entropy()
# A forked worker must never reuse the parent's unread random bytes: two processes would mint the same ids.
os.register_at_fork(after_in_child=_entropy.discard)
EVENT_PREFIX = "evt_"
DELIVERY_PREFIX = "dlv_"
SUBSCRIPTION_PREFIX = "sub_"


# Two Crockford digits for every 10-bit value: 26 digits (130 bits, the top two zero) are 13 lookups.
_DIGIT_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
_PAIR_SHIFTS = range(120, -1, -10)


def ulid(now_ms: int) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32, so ids sort by creation time."""
    value = (now_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(_entropy.take(10))
    # Not base64.b32encode: it is written in Python, a loop over 5-byte groups, and was most of an id's cost.
    pairs = _DIGIT_PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


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
