"""Shared helpers for provider adapters: task ids, progress, status words, errors and result URLs.

Every helper is total: it accepts any JSON value and never raises, so adapters stay total too.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from relay.providers.base import Output, OutputKind, Status, TaskError, TaskUpdate

# Deeper than any real callback; bounds the recursion on hostile bodies.
MAX_DEPTH = 12
# Results kept per event: far above any real callback (Midjourney 4 images, Suno 2 tracks, batches of tens), low
# enough that a body of 34,000 URLs costs a bounded event and bounded CPU. The raw body keeps every URL.
MAX_OUTPUTS = 200
# JSON-in-a-string values (Kie's resultJson) are parsed only up to this size.
MAX_EMBEDDED_JSON = 1_000_000

_VIDEO_EXT = frozenset({"mp4", "mov", "webm", "m4v", "mkv", "avi"})
_IMAGE_EXT = frozenset({"png", "jpg", "jpeg", "webp", "gif", "bmp", "avif", "heic"})
_AUDIO_EXT = frozenset({"mp3", "wav", "m4a", "flac", "ogg", "aac", "opus"})

# Keys (normalized: lowercase, no "_"/"-") whose values are never results: request echoes, callback URLs
# echoed back, API links, error texts.
_EXCLUDED_KEYS = frozenset(
    (
        "urls links link href geturl cancelurl statusurl responseurl"
        " fileurl fileurls endimageurl startimageurl firstframeurl lastframeurl"
        " error errors message msg logs description failreason failmsg errormessage"
    ).split()
)
_EXCLUDED_PREFIXES = tuple("input param request prompt reference refer mask init source stream".split())
# "origin" is not among them: what an "original" URL is depends on the provider (Midjourney resellers'
# ``original_image_url`` is the generated grid, a result; Kie's ``originImageUrl`` is the caller's input), so
# adapters name their own inputs (``OutputCollector(inputs=...)``).
_EXCLUDED_PARTS = ("callback", "webhook", "hook", "notify")

# Status words, normalized by norm_key (lowercase, no "_", "-" or spaces).
_WORDS: dict[Status, str] = {
    "succeeded": "success succeeded succeed successful completed complete finished finish done ok ready",
    "failed": "failed fail failure error errored canceled cancelled cancel timeout timedout rejected expired"
    " aborted createtaskfailed generatefailed",
    "queued": "pending queued queue queuing queueing inqueue pendingqueue waiting wait submitted starting created"
    " notstart",
    "processing": "processing running inprogress generating onqueue started progress working active",
}
STATUS_WORDS: dict[str, Status] = {word: status for status, words in _WORDS.items() for word in words.split()}

# Same characters as str.isspace (both use Py_UNICODE_ISSPACE), searched in C instead of a Python loop.
_WHITESPACE = re.compile(r"\s")
# An http(s) URL whose host part is plain ASCII (no brackets, nothing urlsplit could refuse) and which holds no
# whitespace: what is_http_url accepts, decided in one match for nearly every URL a provider sends.
_PLAIN_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9._~%!$&'()*+,;=:@-]+(?:[/?#]\S*)?\Z")
# Bodies reuse a small vocabulary of keys; classifying each once per process keeps walking a body cheap. Bounded,
# so a hostile body of random keys costs only evictions.
_KEY_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def norm_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "").replace(" ", "")


def get(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` or None when any step is missing or not an object."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def task_id_of(value: Any) -> str | None:
    """A task id is a non-empty string or an integer (rendered as a string); anything else is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def first_task_id(obj: Any, keys: tuple[str, ...], containers: tuple[str, ...] = ()) -> str | None:
    """The first task id found under ``keys`` at the top level, then inside each of ``containers``."""
    for scope in (obj, *(get(obj, c) for c in containers)):
        if isinstance(scope, dict):
            for key in keys:
                found = task_id_of(scope.get(key))
                if found is not None:
                    return found
    return None


def text_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def coerce_progress(value: Any) -> int | None:
    """45, 45.5, "45", "45%" -> 45; clamped to 0..100; anything else -> None."""
    if isinstance(value, bool):
        return None
    number: float
    if isinstance(value, int):
        # Compared as an int: float() of an integer of hundreds of digits overflows.
        return max(0, min(100, value))
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%").strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number):
        return None
    # Truncate rather than round: 99.5 is not done yet.
    return max(0, min(100, math.floor(number)))


def status_from_word(value: Any) -> Status | None:
    if not isinstance(value, str):
        return None
    return STATUS_WORDS.get(norm_key(value))


def read_state(value: Any, table: Mapping[str, Status]) -> tuple[Status, str]:
    """A provider's status word read through its own table: the status and the normalized word. A word the table
    lacks (a state added since, or none at all) is ``processing``: an unknown state never closes a task."""
    word = norm_key(value) if isinstance(value, str) else ""
    return table.get(word, "processing"), word


def table_update(
    task_id: str,
    status: Status,
    word: str,
    collector: OutputCollector,
    error: TaskError | None,
    refs: tuple[tuple[str, str], ...] = (),
) -> TaskUpdate:
    """The update of a provider that reports a state word and no progress: 100 once succeeded, and the word as the
    step while the task runs (two callbacks in different running states are two updates)."""
    return TaskUpdate(
        task_id=task_id,
        status=status,
        progress=100 if status == "succeeded" else None,
        outputs=collector.outputs(),
        error=error,
        step=word if status in ("queued", "processing") else None,
        refs=refs,
    )


def make_error(code: Any, message: Any, default_code: str = "failed") -> TaskError:
    return TaskError(code=text_of(code) or default_code, message=text_of(message) or "")


def is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if _PLAIN_URL.match(value):
        return True  # the usual shape, settled without urlsplit
    if not value.lower().startswith(("http://", "https://")):
        return False
    if _WHITESPACE.search(value):
        return False
    try:
        return bool(urlsplit(value).netloc)
    except ValueError:  # e.g. "http://[" (bad IPv6 literal)
        return False


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def kind_from_key(key: str | None) -> OutputKind | None:
    if not key:
        return None
    k = norm_key(key)
    if any(word in k for word in ("cover", "thumbnail", "poster")):
        return "image"
    if "video" in k:
        return "video"
    if any(word in k for word in ("audio", "music", "song")):
        return "audio"
    if any(word in k for word in ("image", "img", "photo", "picture")):
        return "image"
    return None


def kind_for(url: str, key_hint: str | None = None) -> OutputKind:
    by_key = kind_from_key(key_hint)
    if by_key is not None:
        return by_key
    try:
        path = urlsplit(url).path
    except ValueError:
        return "file"
    last = path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    if ext in _VIDEO_EXT:
        return "video"
    if ext in _IMAGE_EXT:
        return "image"
    if ext in _AUDIO_EXT:
        return "audio"
    return "file"


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def is_excluded_key(key: str) -> bool:
    k = norm_key(key)
    return k in _EXCLUDED_KEYS or k.startswith(_EXCLUDED_PREFIXES) or any(p in k for p in _EXCLUDED_PARTS)


def parse_embedded_json(value: Any) -> Any:
    """The value of a JSON object/array held in a string (Kie's ``resultJson``), else None."""
    if not isinstance(value, str) or len(value) > MAX_EMBEDDED_JSON:
        return None
    text = value.strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


class OutputCollector:
    """Result URLs in first-seen order, each once, http(s) only."""

    def __init__(self, inputs: tuple[str, ...] = ()) -> None:
        """``inputs``: this provider's keys (normalized, see :func:`norm_key`; a trailing ``*`` makes a prefix)
        whose values are the caller's inputs, never results, on top of the keys no provider uses for results."""
        self._seen: set[str] = set()
        self._outputs: list[Output] = []
        self._input_keys = frozenset(key for key in inputs if not key.endswith("*"))
        self._input_prefixes = tuple(key[:-1] for key in inputs if key.endswith("*"))

    def add(self, value: Any, key_hint: str | None = None) -> None:
        if len(self._outputs) <= MAX_OUTPUTS and is_http_url(value):
            self._add(value, key_hint)

    def _add(self, url: str, key_hint: str | None) -> None:
        if url not in self._seen:
            self._seen.add(url)
            self._outputs.append(Output(url=url, kind=kind_for(url, key_hint)))

    def walk(self, value: Any, key_hint: str | None = None, depth: int = 0) -> None:
        """Collect every URL in ``value``, skipping keys that hold inputs, callback URLs or API links.

        The nearest key that names a media kind (``video_urls``, ``images``...) gives the kind of the URLs
        below it; strings holding JSON are parsed and searched too.
        """
        # One URL past the cap is collected, so that the cut is seen (relay.providers.safety makes it).
        if depth > MAX_DEPTH or len(self._outputs) > MAX_OUTPUTS:
            return
        if isinstance(value, str):
            if is_http_url(value):
                self._add(value, key_hint)
            else:
                embedded = parse_embedded_json(value)
                if embedded is not None:
                    self.walk(embedded, key_hint, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self.walk(item, key_hint, depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or is_excluded_key(key) or self._is_input(key):
                    continue
                hint = key if kind_from_key(key) is not None else key_hint
                self.walk(item, hint, depth + 1)

    def _is_input(self, key: str) -> bool:
        if not self._input_keys and not self._input_prefixes:
            return False
        k = norm_key(key)
        return k in self._input_keys or k.startswith(self._input_prefixes)

    def outputs(self) -> tuple[Output, ...]:
        return tuple(self._outputs)
