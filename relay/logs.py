"""Logging configuration, applied by the CLI only (library code just calls ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

# Callback tokens and tunnel channels are credentials: they never reach a log line.
# The secret segment ends where a URL path segment would, or where repr/JSON punctuation starts.
_SECRET_PATHS = re.compile(r"(/hooks/[^/\s]+/|/v1/tunnels/|/t/)[^/\s?#&\"'<>,;()\[\]{}]+")


def _redacted(match: re.Match[str]) -> str:
    return match.group(1) + "[redacted]"


def redact(text: str) -> str:
    # Every record's strings pass here, most holding no path at all: a substring test is far cheaper than the regex.
    if "/hooks/" not in text and "/t/" not in text and "/v1/tunnels/" not in text:
        return text
    return _SECRET_PATHS.sub(_redacted, text)


def kv(**fields: object) -> dict[str, Any]:
    """``logger.info("callback", extra=kv(event_id=..., elapsed_ms=3.1))``: a record's structured fields.

    The plain format shows them as ``key=value`` after the message, the json format as members of the object; they
    are never recovered by parsing text, so a value (a provider's task id...) cannot make up fields of its own.
    """
    return {"fields": fields}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What may stand unquoted: no space, quote, '=', backslash or control character.
_BARE = re.compile(r"[^\s'\"=\\\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Values whose text never needs quoting.
_NUMERIC = (int, float, bool)


def one_line(text: str) -> str:
    """Control characters escaped (``\\n``, ``\\x1b``...): a value carrying CR/LF cannot forge a log line."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def plain_value(value: object) -> str:
    if value is None:
        return "-"
    if type(value) in _NUMERIC:
        return str(value)
    text = str(value)
    # Quoted (a repr, escapes included) when it could be misread: empty, spaces, quotes, '=' or control characters.
    return text if _BARE.fullmatch(text) else repr(text)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class _TimeBySecond(logging.Formatter):
    """``formatTime`` with the part up to the second formatted once per second, not once per record."""

    _second: tuple[int, str | None, str] = (-1, None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        second = int(record.created)
        cached_second, cached_format, text = self._second
        if second != cached_second or datefmt != cached_format:
            text = time.strftime(datefmt or self.default_time_format, self.converter(record.created))
            self._second = (second, datefmt, text)
        if datefmt or not self.default_msec_format:
            return text
        return self.default_msec_format % (text, record.msecs)


class RedactingFormatter(_TimeBySecond):
    """The plain format: the message on one line, then the record's fields as ``key=value``. Redacts the whole
    formatted line, traceback included: arguments that are not strings (a scope dict, an exception holding a URL)
    are rendered only here, after any filter has run."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        fields = "".join(f" {name}={plain_value(value)}" for name, value in record_fields(record).items())
        record.message = one_line(record.message) + fields
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # A tuple first (the usual case), without the ABC check. A lone mapping argument stays a mapping
        # ("%(path)s"-style messages); iterating it would yield its keys.
        if type(args) is not tuple and isinstance(args, Mapping):
            record.args = {key: redact(value) if isinstance(value, str) else value for key, value in args.items()}
        elif args:
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in args)
        record.msg = redact(str(record.msg))
        return True


class JsonFormatter(_TimeBySecond):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the record's fields (:func:`kv`), and
    ``exc`` for a traceback. Redacted like the plain format, after rendering, so no field escapes it."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for name, value in record_fields(record).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str))


JsonFormatter.converter = time.gmtime


def logging_config(level: str = "info", fmt: str = "plain") -> dict[str, Any]:
    """The CLI's logging: ``fmt`` is ``plain`` (a readable line) or ``json`` (one object per line)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {
            "plain": {"()": RedactingFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json" if fmt == "json" else "plain",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "relay": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
