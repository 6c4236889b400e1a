"""The stored form of an event: its meta, request, body format and raw body in one zstd-compressed string.

An event used to be a Redis hash of four fields; its body (over 64 bytes) made Redis keep it as a hash table, about
2.5 KB for a 1 KB callback. Packed, it is one string of a few hundred bytes. The parts are framed (the body last,
byte-exact, whatever it holds) and compressed with zstd and a dictionary trained on provider callbacks
(``bench/dictionary.py``): a callback is too small for a compressor to learn its structure from itself, so the
dictionary supplies the field names, URL shapes and headers every callback repeats. zstd rather than zlib: with a
dictionary it packs these bodies to about half of what zlib's preset dictionary does and decompresses several times
faster, and it is in the standard library from Python 3.14 (``compression.zstd``; ``backports.zstd`` before).

The first byte names the codec, so a shipped dictionary never changes and packs made with it stay readable:
``0`` framed and not compressed (compression did not help), ``1`` a zstd frame without its magic number, made with
``dictionaries/events-1.zdict``. Level 3 (zstd's default): higher levels save a few percent for twice the CPU on
the callback path.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import struct
import sys
from concurrent.futures import ThreadPoolExecutor

import orjson

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

RAW = 0
ZSTD_DICT_1 = 1
LEVEL = 3
LARGE_LEVEL = 1
_MAGIC = b"\x28\xb5\x2f\xfd"
# fmt byte, then the lengths of meta and request; the body is the rest.
_HEADER = struct.Struct(">BII")
_FORMATS = {b"json": 0, b"bytes": 1}
_FORMAT_NAMES = {code: name for name, code in _FORMATS.items()}


class PackError(ValueError):
    """A stored value that is not a packed event (corrupt, or from a codec this version does not know)."""


@functools.cache
def _dictionary(number: int) -> zstd.ZstdDict:
    data = importlib.resources.files("relay.store").joinpath(f"dictionaries/events-{number}.zdict").read_bytes()
    return zstd.ZstdDict(data)


@functools.cache
def _compressor() -> zstd.ZstdCompressor:
    return _new_compressor()


def _new_compressor(level: int = LEVEL) -> zstd.ZstdCompressor:
    # The dictionary id adds bytes to every frame; the codec byte already says which dictionary.
    options: dict[int, int] = {
        zstd.CompressionParameter.dict_id_flag: 0,
        zstd.CompressionParameter.compression_level: level,
    }
    return zstd.ZstdCompressor(options=options, zstd_dict=_dictionary(ZSTD_DICT_1))


class LargePacker:
    """Packs large bodies on one thread of its own, with a compressor kept for it.

    Compressing a megabyte takes milliseconds with the GIL released, so it must leave the event loop; but a thread
    per body (``asyncio.to_thread``) let eight concurrent large callbacks keep both cores of a small machine busy
    compressing while the loop, with every small callback on it, waited for a core, and each call built a new
    compressor (loading the dictionary: a millisecond and a half). One thread bounds compression to one core and
    queues large bodies behind each other. Level 1: on large bodies it packs within a few percent of level 3 in
    three quarters of the time.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-pack")
        self._compressor: zstd.ZstdCompressor | None = None  # made, and used, on the packer's thread only

    async def pack(self, meta: bytes, request: bytes, body_format: bytes, body: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._pack, meta, request, body_format, body)

    def _pack(self, meta: bytes, request: bytes, body_format: bytes, body: bytes) -> bytes:
        if self._compressor is None:
            self._compressor = _new_compressor(LARGE_LEVEL)
        return pack(meta, request, body_format, body, compressor=self._compressor)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def frame(meta: bytes, request: bytes, body_format: bytes, body: bytes) -> bytes:
    """The four parts as one byte string (before compression)."""
    return _HEADER.pack(_FORMATS[body_format], len(meta), len(request)) + meta + request + body


def pack(
    meta: bytes, request: bytes, body_format: bytes, body: bytes, *, compressor: zstd.ZstdCompressor | None = None
) -> bytes:
    """The stored form. ``compressor``: the one to use from another thread (a compressor is not thread-safe)."""
    framed = frame(meta, request, body_format, body)
    compressor = compressor or _compressor()
    compressed = compressor.compress(framed, mode=zstd.ZstdCompressor.FLUSH_FRAME)
    if compressed.startswith(_MAGIC) and len(compressed) - len(_MAGIC) < len(framed):
        # Every frame starts with the same four bytes: the codec byte stands in for them.
        return bytes((ZSTD_DICT_1,)) + compressed[len(_MAGIC) :]
    return bytes((RAW,)) + framed


def unpack(packed: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """``(meta, body, body_format, request)``, the order :func:`relay.events.render_event` takes them in."""
    if not packed:
        raise PackError("empty stored event")
    codec = packed[0]
    try:
        if codec == ZSTD_DICT_1:
            framed = zstd.decompress(_MAGIC + packed[1:], zstd_dict=_dictionary(ZSTD_DICT_1))
        elif codec == RAW:
            framed = packed[1:]
        else:
            raise PackError(f"unknown stored event codec {codec}")
        fmt, meta_len, request_len = _HEADER.unpack_from(framed)
    except (zstd.ZstdError, struct.error) as exc:
        raise PackError(f"corrupt stored event: {exc}") from exc
    start = _HEADER.size
    meta = framed[start : start + meta_len]
    request = framed[start + meta_len : start + meta_len + request_len]
    body = framed[start + meta_len + request_len :]
    return meta, body, _FORMAT_NAMES.get(fmt, b"bytes"), request


def with_id(meta: bytes, event_id: str) -> bytes:
    """Stored meta (without ``id``) as the event JSON, ``id`` first as it always was."""
    head = b'{"id":' + orjson.dumps(event_id)
    return head + b"}" if meta == b"{}" else head + b"," + meta[1:]
