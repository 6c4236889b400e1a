"""The last line between an adapter and storage: what an adapter read out of a body is made safe to store.

Adapters are meant to be total, but a callback with a valid token must be stored whatever its JSON holds
(issue 13): the stdlib parser keeps lone UTF-16 surrogates ("\\ud83d", a provider cutting an emoji) and integers
of hundreds of digits, which no UTF-8 encoder (orjson, Redis clients, browsers) accepts. So:

* texts (task id, error code and message) keep their meaning: a lone surrogate becomes the escape text
  ``\\ud83d``, so two task ids differing only there stay two tasks;
* output URLs that are not valid UTF-8 text are dropped (no client could fetch them);
* progress is an int in 0..100 or None;
* at most ``MAX_OUTPUTS`` outputs (``outputs_truncated`` says when more were cut).

The raw body is untouched: it is stored byte for byte beside the event.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from relay.providers.base import Output, Provider, TaskError, TaskUpdate
from relay.providers.outputs import MAX_OUTPUTS

logger = logging.getLogger(__name__)


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8 text: lone surrogates become their ``\\udXXX`` escape (ASCII text passes as is)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_update(update: TaskUpdate) -> TaskUpdate:
    """``update`` with every field storable (see the module docstring); the same object when it already is."""
    task_id = safe_text(update.task_id)
    error = update.error
    if error is not None and not (error.code.isascii() and error.message.isascii()):
        error = TaskError(code=safe_text(error.code), message=safe_text(error.message))
    outputs = update.outputs
    if not all(output.url.isascii() for output in outputs):
        outputs = tuple(output for output in outputs if _encodable(output.url))
    truncated = update.outputs_truncated
    if len(outputs) > MAX_OUTPUTS:
        outputs, truncated = outputs[:MAX_OUTPUTS], True
    refs = update.refs
    if refs and not all(name.isascii() and value.isascii() for name, value in refs):
        refs = tuple((safe_text(name), safe_text(value)) for name, value in refs)
    progress = update.progress
    if progress is not None and (
        isinstance(progress, bool) or not isinstance(progress, int) or not 0 <= progress <= 100
    ):
        progress = None
    step = update.step if update.step is None else safe_text(update.step)
    fields: dict[str, Any] = {"task_id": task_id, "error": error, "outputs": outputs, "progress": progress}
    fields |= {"step": step, "refs": refs, "outputs_truncated": truncated}
    if all(getattr(update, name) == value for name, value in fields.items()):
        return update
    return dataclasses.replace(update, **fields)


def parse_safely(provider: Provider, payload: Any) -> TaskUpdate | None:
    """The adapter's reading of ``payload`` made storable; None (unrecognized) if the adapter fails on it."""
    try:
        update = provider.parse(payload)
    except Exception:  # noqa: BLE001 - an adapter bug must cost a reading, never the callback
        logger.exception("provider %s failed to parse a callback; stored as unrecognized", provider.name)
        return None
    if update is None or not update.task_id:
        return None
    return safe_update(update)


__all__ = ["Output", "parse_safely", "safe_text", "safe_update"]
