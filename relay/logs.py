"""Logging configuration, applied by the CLI only (library code just calls ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import logging
import re
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


def logging_config(level: str = "info") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"plain": {"()": RedactingFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
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
