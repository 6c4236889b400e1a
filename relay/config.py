"""Settings, read once from the environment (``RELAY_*``, plus ``REDIS_URL`` and ``PORT``).

Nothing else in the package reads ``os.environ``: the CLI and ``create_app()`` pass it to
:meth:`Settings.from_environ`, and tests pass a plain dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.config import Config
from starlette.datastructures import CommaSeparatedStrings, Secret

DAY_S = 86_400


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    redis_url: str
    secret_keys: tuple[Secret, ...]
    """Keys for itsdangerous tokens, oldest -> newest: the newest signs, all of them verify (rotation)."""
    admin_token: Secret
    public_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path(".relay")
    partitions: int = 1
    dedup_ttl_s: int = 7 * DAY_S
    event_ttl_s: int = 30 * DAY_S
    max_body_bytes: int = 1024 * 1024
    store_timeout_s: float = 3.0
    redis_connect_timeout_s: float = 1.0
    redis_startup_wait_s: float = 10.0
    redis_max_connections: int = 64
    kie_webhook_hmac_key: Secret | None = None
    signature_tolerance_s: int = 300
    log_level: str = "info"
    tunnel_router: bool = True
    tunnel_buffer_max_events: int = 10_000
    tunnel_buffer_max_age_s: int = DAY_S
    tunnel_ping_interval_s: float = 15.0
    tunnel_max_streams: int = 32

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        config = Config(environ=environ, env_prefix="RELAY_")
        plain = Config(environ=environ)
        redis_url = plain("REDIS_URL", default="")
        if not redis_url:
            raise SettingsError("REDIS_URL is not set; `relay serve` starts an embedded Redis when it is missing")
        keys = config("SECRET_KEY", cast=CommaSeparatedStrings, default="")
        if not list(keys):
            raise SettingsError("RELAY_SECRET_KEY is not set; `relay serve` generates one in the data dir")
        admin_token = config("ADMIN_TOKEN", default="")
        if not admin_token:
            raise SettingsError("RELAY_ADMIN_TOKEN is not set; `relay serve` generates one in the data dir")
        kie_key = config("KIE_WEBHOOK_HMAC_KEY", default="")
        settings = cls(
            redis_url=redis_url,
            secret_keys=tuple(Secret(key) for key in keys),
            admin_token=Secret(admin_token),
            public_url=config("PUBLIC_URL", default=cls.public_url).rstrip("/"),
            data_dir=Path(config("DATA_DIR", default=str(cls.data_dir))),
            partitions=config("PARTITIONS", cast=int, default=cls.partitions),
            dedup_ttl_s=config("DEDUP_TTL_S", cast=int, default=cls.dedup_ttl_s),
            event_ttl_s=config("EVENT_TTL_S", cast=int, default=cls.event_ttl_s),
            max_body_bytes=config("MAX_BODY_BYTES", cast=int, default=cls.max_body_bytes),
            store_timeout_s=config("STORE_TIMEOUT_S", cast=float, default=cls.store_timeout_s),
            redis_connect_timeout_s=config("REDIS_CONNECT_TIMEOUT_S", cast=float, default=cls.redis_connect_timeout_s),
            redis_startup_wait_s=config("REDIS_STARTUP_WAIT_S", cast=float, default=cls.redis_startup_wait_s),
            redis_max_connections=config("REDIS_MAX_CONNECTIONS", cast=int, default=cls.redis_max_connections),
            kie_webhook_hmac_key=Secret(kie_key) if kie_key else None,
            signature_tolerance_s=config("SIGNATURE_TOLERANCE_S", cast=int, default=cls.signature_tolerance_s),
            log_level=config("LOG_LEVEL", default=cls.log_level).lower(),
            tunnel_router=config("TUNNEL_ROUTER", cast=bool, default=cls.tunnel_router),
            tunnel_buffer_max_events=config("TUNNEL_BUFFER_MAX_EVENTS", cast=int, default=cls.tunnel_buffer_max_events),
            tunnel_buffer_max_age_s=config("TUNNEL_BUFFER_MAX_AGE_S", cast=int, default=cls.tunnel_buffer_max_age_s),
            tunnel_ping_interval_s=config("TUNNEL_PING_INTERVAL_S", cast=float, default=cls.tunnel_ping_interval_s),
            tunnel_max_streams=config("TUNNEL_MAX_STREAMS", cast=int, default=cls.tunnel_max_streams),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 1 <= self.partitions <= 256:
            raise SettingsError(f"RELAY_PARTITIONS must be between 1 and 256, got {self.partitions!r}")
        for name in ("dedup_ttl_s", "event_ttl_s", "max_body_bytes"):
            value = getattr(self, name)
            if value <= 0:
                raise SettingsError(f"RELAY_{name.upper()} must be positive, got {value!r}")
        if self.event_ttl_s < self.dedup_ttl_s:
            # A dedup key that outlives its event would answer "duplicate" for an event nobody can read.
            raise SettingsError("RELAY_EVENT_TTL_S must be at least RELAY_DEDUP_TTL_S")
        if self.store_timeout_s <= 0 or self.store_timeout_s >= 14:
            raise SettingsError("RELAY_STORE_TIMEOUT_S must be in (0, 14): providers give up after 15 s")
        for name in ("tunnel_buffer_max_events", "tunnel_buffer_max_age_s", "tunnel_max_streams"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"RELAY_{name.upper()} must be positive, got {getattr(self, name)!r}")
        if not 0 < self.tunnel_ping_interval_s <= 15:
            # The issue promises a keep-alive at least every 15 s; proxies commonly cut idle streams after 30-60 s.
            raise SettingsError(f"RELAY_TUNNEL_PING_INTERVAL_S must be in (0, 15], got {self.tunnel_ping_interval_s!r}")
