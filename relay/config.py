"""Settings, read once from the environment (``RELAY_*``, plus ``REDIS_URL`` and ``PORT``).

Nothing else in the package reads ``os.environ``: the CLI and ``create_app()`` pass it to
:meth:`Settings.from_environ`, and tests pass a plain dict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from starlette.config import Config
from starlette.datastructures import CommaSeparatedStrings, Secret

DAY_S = 86_400
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    provider_max_body_bytes: Mapping[str, int] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_MAX_BODY_BYTES``: a provider's own body limit, overriding ``max_body_bytes``."""
    body_timeout_s: float = 10.0
    header_timeout_s: float = 10.0
    trusted_proxies: tuple[Network, ...] = ()
    provider_allowed_ips: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_ALLOWED_IPS``: when set for a provider, only these networks may call its callbacks."""
    rate_token_per_s: float = 50.0
    rate_token_burst: int = 500
    rate_address_per_s: float = 100.0
    rate_address_burst: int = 1000
    replicate_webhook_secret: Secret | None = None

    def max_body_bytes_for(self, provider: str) -> int:
        return self.provider_max_body_bytes.get(provider, self.max_body_bytes)

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
            **_edge_settings(config),
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
        for name in ("body_timeout_s", "header_timeout_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"RELAY_{name.upper()} must be positive, got {getattr(self, name)!r}")
        for name in ("rate_token_per_s", "rate_token_burst", "rate_address_per_s", "rate_address_burst"):
            if getattr(self, name) < 0:
                raise SettingsError(f"RELAY_{name.upper()} must be 0 (off) or positive, got {getattr(self, name)!r}")
        if self.store_timeout_s <= 0 or self.store_timeout_s >= 14:
            raise SettingsError("RELAY_STORE_TIMEOUT_S must be in (0, 14): providers give up after 15 s")


def parse_networks(name: str, value: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 2001:db8::1"`` -> networks; a bare address is a /32 (or /128)."""
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip())
    except ValueError as exc:
        raise SettingsError(f"{name} must be comma-separated IP addresses or CIDRs, got {value!r}") from exc


class _EdgeSettings(TypedDict):
    provider_max_body_bytes: dict[str, int]
    body_timeout_s: float
    header_timeout_s: float
    trusted_proxies: tuple[Network, ...]
    provider_allowed_ips: dict[str, tuple[Network, ...]]
    rate_token_per_s: float
    rate_token_burst: int
    rate_address_per_s: float
    rate_address_burst: int
    replicate_webhook_secret: Secret | None


def _edge_settings(config: Config) -> _EdgeSettings:
    """The public-edge settings: limits, timeouts, allow-lists, rate limits, per-provider overrides."""
    # Imported here: providers need nothing from settings, and this keeps the import graph one-way at load time.
    from relay.providers import PROVIDER_NAMES

    body_limits: dict[str, int] = {}
    allowed: dict[str, tuple[Network, ...]] = {}
    for provider in PROVIDER_NAMES:
        prefix = provider.upper()
        limit = config(f"{prefix}_MAX_BODY_BYTES", cast=int, default=0)
        if limit < 0:
            raise SettingsError(f"RELAY_{prefix}_MAX_BODY_BYTES must be positive, got {limit!r}")
        if limit:
            body_limits[provider] = limit
        networks = config(f"{prefix}_ALLOWED_IPS", default="")
        if networks.strip():
            allowed[provider] = parse_networks(f"RELAY_{prefix}_ALLOWED_IPS", networks)
    replicate_secret = config("REPLICATE_WEBHOOK_SECRET", default="")
    if replicate_secret:
        from relay.signing import secret_bytes

        try:
            secret_bytes(replicate_secret)
        except ValueError as exc:
            raise SettingsError(f"RELAY_REPLICATE_WEBHOOK_SECRET: {exc}") from exc
    return _EdgeSettings(
        provider_max_body_bytes=body_limits,
        body_timeout_s=config("BODY_TIMEOUT_S", cast=float, default=Settings.body_timeout_s),
        header_timeout_s=config("HEADER_TIMEOUT_S", cast=float, default=Settings.header_timeout_s),
        trusted_proxies=parse_networks("RELAY_TRUSTED_PROXIES", config("TRUSTED_PROXIES", default="")),
        provider_allowed_ips=allowed,
        rate_token_per_s=config("RATE_TOKEN_PER_S", cast=float, default=Settings.rate_token_per_s),
        rate_token_burst=config("RATE_TOKEN_BURST", cast=int, default=Settings.rate_token_burst),
        rate_address_per_s=config("RATE_ADDRESS_PER_S", cast=float, default=Settings.rate_address_per_s),
        rate_address_burst=config("RATE_ADDRESS_BURST", cast=int, default=Settings.rate_address_burst),
        replicate_webhook_secret=Secret(replicate_secret) if replicate_secret else None,
    )
