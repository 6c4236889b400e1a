"""What the ``relay`` commands read from the environment before (or instead of) the app's
:class:`relay.config.Settings`.

Kept apart from :mod:`relay.config`, and free of starlette: ``relay tunnel`` and the admin commands start without
loading the web stack (tests/tunnel/test_startup.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("plain", "json")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class CliSettings:
    """What the ``relay`` commands read from the environment before the app's :class:`Settings` can be built.

    ``relay serve`` completes the environment (secrets from the data dir, the embedded Redis's URL) and only then
    builds :class:`relay.config.Settings` (whose defaults for the fields both have are these); ``relay tunnel``
    and the admin commands need the server and a token, nothing more.
    """

    data_dir: Path = Path(".relay")
    redis_url: str = ""
    """``REDIS_URL``; empty: ``relay serve`` and ``relay worker`` start the embedded Redis."""
    port: int = 8000
    """``PORT`` (what PaaS set), overridden by ``--port``."""
    web_concurrency: int = 1
    """``WEB_CONCURRENCY``, overridden by ``--workers``."""
    public_url: str = ""
    admin_token: str = ""
    secret_key: str = ""
    redis_startup_wait_s: float = 10.0
    log_level: str = "info"
    log_format: str = "plain"
    config_home: Path = Path("~/.config")
    """``XDG_CONFIG_HOME`` (else ``$HOME/.config``): where ``relay tunnel`` saves its channels (docs/tunnel.md)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CliSettings:
        config = _Environ(environ, "RELAY_")
        plain = _Environ(environ)
        log_level = config("LOG_LEVEL", default=cls.log_level).lower()
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"RELAY_LOG_LEVEL must be one of {list(LOG_LEVELS)}, got {log_level!r}")
        log_format = config("LOG_FORMAT", default=cls.log_format).lower()
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"RELAY_LOG_FORMAT must be one of {list(LOG_FORMATS)}, got {log_format!r}")
        return cls(
            data_dir=Path(config("DATA_DIR", default=str(cls.data_dir))),
            redis_url=plain("REDIS_URL", default=""),
            port=_number(plain, "PORT", int, cls.port, 1, 65535),
            web_concurrency=_number(plain, "WEB_CONCURRENCY", int, cls.web_concurrency, 1, 1024),
            public_url=config("PUBLIC_URL", default="").rstrip("/"),
            admin_token=config("ADMIN_TOKEN", default=""),
            secret_key=config("SECRET_KEY", default=""),
            redis_startup_wait_s=_number(
                config, "REDIS_STARTUP_WAIT_S", float, cls.redis_startup_wait_s, 0, 3600, prefix="RELAY_"
            ),
            log_level=log_level,
            log_format=log_format,
            config_home=Path(plain("XDG_CONFIG_HOME", default="") or Path(plain("HOME", default="~")) / ".config"),
        )


class _Environ:
    """Starlette's ``Config`` lookup (``prefix + name``, else ``default``), without importing starlette."""

    def __init__(self, environ: Mapping[str, str], prefix: str = "") -> None:
        self.environ, self.prefix = environ, prefix

    def __call__(self, name: str, default: str) -> str:
        return self.environ.get(self.prefix + name, default)


def _number(
    config: _Environ,
    name: str,
    cast: type[int] | type[float],
    default: float,
    low: float,
    high: float,
    prefix: str = "",
) -> Any:
    """A number setting within [low, high]; a one-line SettingsError naming the variable otherwise."""
    raw = config(name, default="")
    if raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise SettingsError(
            f"{prefix}{name} must be {'an integer' if cast is int else 'a number'}, got {raw!r}"
        ) from None
    if not low <= value <= high:
        raise SettingsError(f"{prefix}{name} must be between {low} and {high}, got {raw!r}")
    return value
