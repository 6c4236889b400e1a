from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from relay import ids


def test_ulids_sort_by_time_and_use_crockford_base32() -> None:
    earlier = [ids.ulid(1_700_000_000_000) for _ in range(50)]
    later = ids.ulid(1_700_000_000_001)

    assert all(len(u) == 26 and set(u) <= set(ids._CROCKFORD) for u in earlier)
    assert len(set(earlier)) == 50
    assert max(earlier) < later
    # The first 10 digits are the milliseconds, most significant first.
    assert sum(ids._CROCKFORD.index(c) << 5 * (9 - i) for i, c in enumerate(later[:10])) == 1_700_000_000_001


@given(st.integers(0, (1 << 48) - 1))
def test_a_ulid_is_the_crockford_base32_of_its_128_bits(now_ms: int) -> None:
    made = ids.ulid(now_ms)
    value = sum(ids._CROCKFORD.index(char) << 5 * (25 - i) for i, char in enumerate(made))
    # The same digits as the standard library's base32 (RFC 4648 alphabet mapped onto Crockford's).
    rfc4648 = base64.b32encode(value.to_bytes(20)).decode()[6:]
    assert made == rfc4648.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ids._CROCKFORD))
    assert value >> 80 == now_ms and value < 1 << 128


def test_event_ids_carry_their_partition() -> None:
    event_id = ids.new_event_id(1_700_000_000_000, 0x2A)

    assert ids.partition_of(event_id) == 0x2A
    assert ids.partition_of(event_id[:-1]) is None


def test_a_forked_child_mints_different_ids_than_its_parent() -> None:
    import os

    ids.ulid(0)  # the parent holds unread random bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, ids.ulid(0).encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.waitpid(pid, 0)
    os.close(read_end)

    assert child != ids.ulid(0)
