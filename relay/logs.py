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


def redact(text: str) -> str:
    return _SECRET_PATHS.sub(r"\1[redacted]", text)


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted line, traceback included: arguments that are not strings (a scope dict, an
    exception holding a URL) are rendered only here, after any filter has run."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A lone mapping argument stays a mapping ("%(path)s"-style messages); iterating it would yield its keys.
        if isinstance(record.args, Mapping):
            record.args = {
                key: redact(value) if isinstance(value, str) else value for key, value in record.args.items()
            }
        elif record.args:
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        record.msg = redact(str(record.msg))
        return True


# A message's ``key=value`` fields (the house style: ``event_id=evt_… elapsed_ms=3.1``); quoted values are reprs.
_FIELD = re.compile(r"""(?<![\w.])([a-z_][a-z0-9_]*)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s,;]+)""")


def fields_of(message: str) -> dict[str, Any]:
    """The ``key=value`` fields of a log message; numbers become numbers, quoted strings lose their quotes."""
    found: dict[str, Any] = {}
    for name, raw in _FIELD.findall(message):
        value: Any = raw
        if raw[:1] in "'\"" and raw[-1:] == raw[:1] and len(raw) >= 2:
            value = raw[1:-1]
        elif raw in ("True", "False", "None", "-"):
            value = {"True": True, "False": False, "None": None, "-": None}[raw]
        else:
            try:
                value = int(raw) if raw.lstrip("-").isdigit() else float(raw) if "." in raw else raw
            except ValueError:
                value = raw
        found[name] = value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the message's ``key=value`` fields,
    and ``exc`` for a traceback. Redacted like the plain format, after rendering, so no field escapes it."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for name, value in fields_of(message).items():
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
