"""Settings, read once from the environment (``RELAY_*``, plus ``REDIS_URL`` and ``PORT``).

Nothing else in the package reads ``os.environ``: the CLI and ``create_app()`` pass it to
:meth:`Settings.from_environ`, and tests pass a plain dict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from starlette.config import Config
from starlette.datastructures import CommaSeparatedStrings, Secret

# Re-exported: what the command line reads before the app's settings lives where starlette is not imported.
from relay.cli_settings import LOG_FORMATS, CliSettings, SettingsError

DAY_S = 86_400
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    redis_startup_wait_s: float = CliSettings.redis_startup_wait_s
    redis_max_connections: int = 64
    kie_webhook_hmac_key: Secret | None = None
    signature_tolerance_s: int = 300
    # --- Provider signature keys (docs/providers.md): each provider is verified only when its key is set. ---
    fal_jwks_url: str = ""
    """``RELAY_FAL_JWKS_URL``: fal's public keys (https://rest.alpha.fal.ai/.well-known/jwks.json); set, fal
    callbacks must carry a valid ED25519 signature."""
    piapi_webhook_secret: Secret | None = None
    """``RELAY_PIAPI_WEBHOOK_SECRET``: the ``webhook_config.secret`` given to PiAPI/GoAPI (``x-webhook-secret``)."""
    apiframe_api_key: Secret | None = None
    """``RELAY_APIFRAME_API_KEY``: APIFrame v2 signs with HMAC-SHA256 keyed by SHA-256 of the API key."""
    leonardo_webhook_api_key: Secret | None = None
    """``RELAY_LEONARDO_WEBHOOK_API_KEY``: the webhook callback API key (``authorization: Bearer ...``)."""
    log_level: str = CliSettings.log_level
    provider_max_body_bytes: Mapping[str, int] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_MAX_BODY_BYTES``: a provider's own body limit, overriding ``max_body_bytes``."""
    body_timeout_s: float = 10.0
    header_timeout_s: float = 10.0
    trusted_proxies: tuple[Network, ...] = ()
    provider_allowed_ips: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_ALLOWED_IPS``: when set for a provider, only these networks may call its callbacks."""
    # Rate limits stop a leaked callback URL being abused; they must never shed genuine results. Providers finish
    # batches at once (2,000 callbacks at 200/s on one URL is real) and some never retry a 429 (midjourney-proxy),
    # so the defaults sit an order of magnitude above any real provider burst (docs/providers.md).
    rate_token_per_s: float = 1000.0
    rate_token_burst: int = 20_000
    rate_address_per_s: float = 2000.0
    rate_address_burst: int = 40_000
    replicate_webhook_secret: Secret | None = None
    allow_private_targets: bool = False
    worker: bool = True
    delivery_timeout_s: float = 15.0
    delivery_lease_s: float = 60.0
    delivery_concurrency: int = 64
    delivery_concurrency_per_subscription: int = 8
    retry_schedule_s: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    retry_jitter: float = 0.2
    retry_min_after_throttle_s: float = 60.0
    secret_overlap_s: int = DAY_S
    subscription_disable_after_s: int = 5 * DAY_S
    worker_poll_s: float = 0.1
    shutdown_grace_s: float = 10.0
    log_format: str = CliSettings.log_format
    allow_volatile_redis: bool = False
    """Serve even when Redis keeps nothing on disk (no AOF, no RDB save points): ``/readyz`` then stays ready."""
    metrics_token: Secret | None = None
    """A bearer token that may read ``/metrics`` (and nothing else); the admin token may too."""

    tunnel_router: bool = True
    tunnel_buffer_max_events: int = 10_000
    tunnel_buffer_max_age_s: int = DAY_S
    tunnel_ping_interval_s: float = 15.0
    tunnel_max_streams: int = 32
    # --- tunnel channels: limits and expiry (docs/tunnel.md) ---
    tunnel_buffer_max_bytes: int = 64 * 1024 * 1024
    tunnel_max_body_bytes: int = 1024 * 1024
    tunnel_post_per_s: float = 50.0
    tunnel_post_burst: int = 500
    tunnel_max_streams_per_channel: int = 4
    tunnel_channel_ttl_s: int = 7 * DAY_S

    # -- assets: copies of the files events point to (docs/assets.md) --
    assets: bool = False
    provider_assets: Mapping[str, bool] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_ASSETS``: turn copying off (or on) for one provider, overriding ``assets``."""
    assets_url: str = ""
    """Where copies go: empty for ``<data dir>/assets``; ``s3://bucket/prefix``, ``gs://...``, ``az://...``."""
    assets_store_options: Mapping[str, str] = field(default_factory=dict)
    """The cloud's standard variables (``AWS_*``, ``GOOGLE_*``, ``AZURE_*``) handed to the object store."""
    assets_ttl_s: int = 0
    """How long a copy is kept after its event arrived; 0 means as long as events (``RELAY_EVENT_TTL_S``)."""
    assets_link_ttl_s: int = 7 * DAY_S
    assets_max_bytes: int = 2 * 1024**3
    assets_timeout_s: float = 600.0
    assets_retry_schedule_s: tuple[float, ...] = (2.0, 15.0, 60.0)
    assets_concurrency: int = 16
    assets_concurrency_per_host: int = 4
    assets_wait_s: float = 120.0
    """How long a ``wait_for_assets`` subscription's delivery waits for the copies before it goes out anyway."""
    assets_lease_s: float = 60.0
    """A copy whose worker stopped renewing this long ago (killed) is taken over by another worker."""

    def assets_for(self, provider: str) -> bool:
        return self.provider_assets.get(provider, self.assets)

    @property
    def assets_keep_s(self) -> int:
        return self.assets_ttl_s or self.event_ttl_s

    # -- tracked tasks (relay.tasks, docs/tasks.md) --
    tasks_poller: bool = True
    """Run the task poller beside the delivery worker (``relay serve``'s in-app worker, ``relay worker``)."""
    tasks_auto_track: bool = True
    tasks_deadline_s: float = 0.0
    """When > 0, every task's deadline; else each provider's default (relay.tasks.catalog)."""
    tasks_horizon_s: float = DAY_S
    tasks_poll_interval_s: float = 30.0
    tasks_poll_max_interval_s: float = 600.0
    tasks_poll_concurrency: int = 4
    tasks_poll_timeout_s: float = 10.0
    tasks_tick_s: float = 1.0
    provider_api_keys: Mapping[str, Secret] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_API_KEY``: the key the poller sends to a provider's status endpoint."""
    provider_api_bases: Mapping[str, str] = field(default_factory=dict)
    """``RELAY_<PROVIDER>_API_BASE``: a provider's API base URL, instead of its real host."""

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
        admin_token = config("ADMIN_TOKEN", default="")
        missing = [name for name, value in (("SECRET_KEY", list(keys)), ("ADMIN_TOKEN", admin_token)) if not value]
        if missing:
            raise SettingsError(missing_secrets_message(missing))
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
            fal_jwks_url=config("FAL_JWKS_URL", default=""),
            piapi_webhook_secret=_secret(config("PIAPI_WEBHOOK_SECRET", default="")),
            apiframe_api_key=_secret(config("APIFRAME_API_KEY", default="")),
            leonardo_webhook_api_key=_secret(config("LEONARDO_WEBHOOK_API_KEY", default="")),
            signature_tolerance_s=config("SIGNATURE_TOLERANCE_S", cast=int, default=cls.signature_tolerance_s),
            log_level=config("LOG_LEVEL", default=cls.log_level).lower(),
            **_edge_settings(config),
            **_delivery_settings(config),
            tunnel_router=config("TUNNEL_ROUTER", cast=bool, default=cls.tunnel_router),
            tunnel_buffer_max_events=config("TUNNEL_BUFFER_MAX_EVENTS", cast=int, default=cls.tunnel_buffer_max_events),
            tunnel_buffer_max_age_s=config("TUNNEL_BUFFER_MAX_AGE_S", cast=int, default=cls.tunnel_buffer_max_age_s),
            tunnel_ping_interval_s=config("TUNNEL_PING_INTERVAL_S", cast=float, default=cls.tunnel_ping_interval_s),
            tunnel_max_streams=config("TUNNEL_MAX_STREAMS", cast=int, default=cls.tunnel_max_streams),
            **_tunnel_limit_settings(config),
            **_ops_settings(config),
            **_assets_settings(config, environ),
            **_task_settings(config),
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
        for name in (
            "tunnel_buffer_max_events",
            "tunnel_buffer_max_age_s",
            "tunnel_max_streams",
            "tunnel_buffer_max_bytes",
            "tunnel_max_body_bytes",
            "tunnel_max_streams_per_channel",
            "tunnel_channel_ttl_s",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"RELAY_{name.upper()} must be positive, got {getattr(self, name)!r}")
        if not 0 < self.tunnel_ping_interval_s <= 15:
            # The issue promises a keep-alive at least every 15 s; proxies commonly cut idle streams after 30-60 s.
            raise SettingsError(f"RELAY_TUNNEL_PING_INTERVAL_S must be in (0, 15], got {self.tunnel_ping_interval_s!r}")
        self._validate_delivery()
        self._validate_assets()
        self._validate_tasks()

    def _validate_tasks(self) -> None:
        for name in ("tasks_poll_interval_s", "tasks_poll_timeout_s", "tasks_tick_s", "tasks_horizon_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"RELAY_{name.upper()} must be positive, got {getattr(self, name)!r}")
        if self.tasks_deadline_s < 0 or self.tasks_poll_concurrency < 1:
            raise SettingsError("RELAY_TASKS_DEADLINE_S must be >= 0 and RELAY_TASKS_POLL_CONCURRENCY >= 1")
        if self.tasks_poll_max_interval_s < self.tasks_poll_interval_s:
            raise SettingsError("RELAY_TASKS_POLL_MAX_INTERVAL_S must be at least RELAY_TASKS_POLL_INTERVAL_S")
        if self.tasks_horizon_s > self.event_ttl_s:
            # A task's record and events must outlive its polling.
            raise SettingsError("RELAY_TASKS_HORIZON_S must not exceed RELAY_EVENT_TTL_S")

    def _validate_delivery(self) -> None:
        if self.delivery_timeout_s <= 0:
            raise SettingsError(f"RELAY_DELIVERY_TIMEOUT_S must be positive, got {self.delivery_timeout_s!r}")
        if self.delivery_lease_s <= self.delivery_timeout_s:
            # A lease shorter than an attempt would hand a delivery still in flight to a second worker.
            raise SettingsError("RELAY_DELIVERY_LEASE_S must be longer than RELAY_DELIVERY_TIMEOUT_S")
        if self.delivery_concurrency < 1 or self.delivery_concurrency_per_subscription < 1:
            raise SettingsError("RELAY_DELIVERY_CONCURRENCY and ..._PER_SUBSCRIPTION must be at least 1")
        if not self.retry_schedule_s or any(step < 0 for step in self.retry_schedule_s):
            raise SettingsError(f"RELAY_RETRY_SCHEDULE_S must be non-negative seconds, got {self.retry_schedule_s!r}")
        if not 0 <= self.retry_jitter < 1:
            raise SettingsError(f"RELAY_RETRY_JITTER must be in [0, 1), got {self.retry_jitter!r}")
        if self.worker_poll_s <= 0 or self.shutdown_grace_s < 0:
            raise SettingsError("RELAY_WORKER_POLL_S must be positive and RELAY_SHUTDOWN_GRACE_S not negative")

    def _validate_assets(self) -> None:
        for name in ("assets_link_ttl_s", "assets_max_bytes", "assets_timeout_s", "assets_concurrency",
                     "assets_concurrency_per_host", "assets_lease_s"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise SettingsError(f"RELAY_{name.upper()} must be positive, got {getattr(self, name)!r}")
        if self.assets_ttl_s < 0 or self.assets_wait_s < 0:
            raise SettingsError("RELAY_ASSETS_TTL_S and RELAY_ASSETS_WAIT_S must not be negative")
        if any(step < 0 for step in self.assets_retry_schedule_s):
            raise SettingsError(f"RELAY_ASSETS_RETRY_SCHEDULE_S must be seconds, got {self.assets_retry_schedule_s!r}")
        scheme = self.assets_url.partition("://")[0] if "://" in self.assets_url else ""
        if self.assets_url and scheme not in ASSET_SCHEMES:
            raise SettingsError(f"RELAY_ASSETS_URL must start with one of {list(ASSET_SCHEMES)}, got {scheme!r}")


def parse_networks(name: str, value: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 2001:db8::1"`` -> networks; a bare address is a /32 (or /128)."""
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip())
    except ValueError as exc:
        raise SettingsError(f"{name} must be comma-separated IP addresses or CIDRs, got {value!r}") from exc


def _secret(value: str) -> Secret | None:
    return Secret(value) if value else None


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


def missing_secrets_message(names: list[str]) -> str:
    """What to set when REDIS_URL is given without secrets: they are generated only for the embedded Redis."""
    variables = " and ".join(f"RELAY_{name}" for name in names)
    exports = "; ".join(
        f"export RELAY_{name}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" for name in names
    )
    return (
        f"{variables} not set: with REDIS_URL set they are not generated (every process sharing that Redis needs "
        f"the same values), so set them, e.g. {exports}"
    )


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


def _delivery_settings(config: Config) -> dict[str, Any]:
    """The delivery worker's settings (subscriptions, retries, leases); defaults are the dataclass's."""
    d = Settings
    schedule = config("RETRY_SCHEDULE_S", cast=CommaSeparatedStrings, default="")
    try:
        steps = tuple(float(step) for step in schedule) if list(schedule) else d.retry_schedule_s
    except ValueError as exc:
        raise SettingsError(f"RELAY_RETRY_SCHEDULE_S must be comma-separated seconds, got {str(schedule)!r}") from exc
    return {
        "allow_private_targets": config("ALLOW_PRIVATE_TARGETS", cast=bool, default=d.allow_private_targets),
        "worker": config("WORKER", cast=bool, default=d.worker),
        "delivery_timeout_s": config("DELIVERY_TIMEOUT_S", cast=float, default=d.delivery_timeout_s),
        "delivery_lease_s": config("DELIVERY_LEASE_S", cast=float, default=d.delivery_lease_s),
        "delivery_concurrency": config("DELIVERY_CONCURRENCY", cast=int, default=d.delivery_concurrency),
        "delivery_concurrency_per_subscription": config(
            "DELIVERY_CONCURRENCY_PER_SUBSCRIPTION", cast=int, default=d.delivery_concurrency_per_subscription
        ),
        "retry_schedule_s": steps,
        "retry_jitter": config("RETRY_JITTER", cast=float, default=d.retry_jitter),
        "retry_min_after_throttle_s": config(
            "RETRY_MIN_AFTER_THROTTLE_S", cast=float, default=d.retry_min_after_throttle_s
        ),
        "secret_overlap_s": config("SECRET_OVERLAP_S", cast=int, default=d.secret_overlap_s),
        "subscription_disable_after_s": config(
            "SUBSCRIPTION_DISABLE_AFTER_S", cast=int, default=d.subscription_disable_after_s
        ),
        "worker_poll_s": config("WORKER_POLL_S", cast=float, default=d.worker_poll_s),
        "shutdown_grace_s": config("SHUTDOWN_GRACE_S", cast=float, default=d.shutdown_grace_s),
    }


def _tunnel_limit_settings(config: Config) -> dict[str, Any]:
    """Per-channel bounds: what one channel (its senders, its buffer, its readers) may take from the relay."""
    post_per_s = config("TUNNEL_POST_PER_S", cast=float, default=Settings.tunnel_post_per_s)
    post_burst = config("TUNNEL_POST_BURST", cast=int, default=Settings.tunnel_post_burst)
    if post_per_s < 0 or post_burst < 0:
        raise SettingsError("RELAY_TUNNEL_POST_PER_S and RELAY_TUNNEL_POST_BURST must be 0 (off) or positive")
    return {
        "tunnel_buffer_max_bytes": config(
            "TUNNEL_BUFFER_MAX_BYTES", cast=int, default=Settings.tunnel_buffer_max_bytes
        ),
        "tunnel_max_body_bytes": config("TUNNEL_MAX_BODY_BYTES", cast=int, default=Settings.tunnel_max_body_bytes),
        "tunnel_post_per_s": post_per_s,
        "tunnel_post_burst": post_burst,
        "tunnel_max_streams_per_channel": config(
            "TUNNEL_MAX_STREAMS_PER_CHANNEL", cast=int, default=Settings.tunnel_max_streams_per_channel
        ),
        "tunnel_channel_ttl_s": config("TUNNEL_CHANNEL_TTL_S", cast=int, default=Settings.tunnel_channel_ttl_s),
    }


def _ops_settings(config: Config) -> dict[str, Any]:
    """Operations: log format, the Redis persistence check, who may read ``/metrics``."""
    log_format = config("LOG_FORMAT", default=Settings.log_format).lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"RELAY_LOG_FORMAT must be one of {list(LOG_FORMATS)}, got {log_format!r}")
    metrics_token = config("METRICS_TOKEN", default="")
    return {
        "log_format": log_format,
        "allow_volatile_redis": config("ALLOW_VOLATILE_REDIS", cast=bool, default=Settings.allow_volatile_redis),
        "metrics_token": Secret(metrics_token) if metrics_token else None,
    }


ASSET_SCHEMES = ("s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "file")
# The variables each cloud's own tools read; passed to the object store as its configuration.
CLOUD_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_")


def _assets_settings(config: Config, environ: Mapping[str, str]) -> dict[str, Any]:
    from relay.providers import PROVIDER_NAMES

    d = Settings
    per_provider: dict[str, bool] = {}
    for provider in PROVIDER_NAMES:
        raw = config(f"{provider.upper()}_ASSETS", default="")
        if raw:
            per_provider[provider] = _flag(f"RELAY_{provider.upper()}_ASSETS", raw)
    schedule = config("ASSETS_RETRY_SCHEDULE_S", cast=CommaSeparatedStrings, default="")
    try:
        steps = tuple(float(step) for step in schedule) if list(schedule) else d.assets_retry_schedule_s
    except ValueError as exc:
        raise SettingsError(f"RELAY_ASSETS_RETRY_SCHEDULE_S must be comma-separated seconds, got {schedule}") from exc
    return {
        "assets": _flag("RELAY_ASSETS", config("ASSETS", default="off")),
        "provider_assets": per_provider,
        "assets_url": config("ASSETS_URL", default="").strip().rstrip("/"),
        "assets_store_options": {k: v for k, v in environ.items() if k.startswith(CLOUD_PREFIXES)},
        "assets_ttl_s": config("ASSETS_TTL_S", cast=int, default=d.assets_ttl_s),
        "assets_link_ttl_s": config("ASSETS_LINK_TTL_S", cast=int, default=d.assets_link_ttl_s),
        "assets_max_bytes": config("ASSETS_MAX_BYTES", cast=int, default=d.assets_max_bytes),
        "assets_timeout_s": config("ASSETS_TIMEOUT_S", cast=float, default=d.assets_timeout_s),
        "assets_retry_schedule_s": steps,
        "assets_concurrency": config("ASSETS_CONCURRENCY", cast=int, default=d.assets_concurrency),
        "assets_concurrency_per_host": config(
            "ASSETS_CONCURRENCY_PER_HOST", cast=int, default=d.assets_concurrency_per_host
        ),
        "assets_wait_s": config("ASSETS_WAIT_S", cast=float, default=d.assets_wait_s),
        "assets_lease_s": config("ASSETS_LEASE_S", cast=float, default=d.assets_lease_s),
    }


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise SettingsError(f"{name} must be on or off, got {value!r}")


def _task_settings(config: Config) -> dict[str, Any]:
    """Tracked tasks: the poller's schedule and limits, and each provider's API key and base URL."""
    from relay.tasks.catalog import TASK_PROVIDERS

    keys: dict[str, Secret] = {}
    bases: dict[str, str] = {}
    for provider in TASK_PROVIDERS:
        prefix = provider.upper()
        key = config(f"{prefix}_API_KEY", default="")
        if key:
            keys[provider] = Secret(key)
        base = config(f"{prefix}_API_BASE", default="").rstrip("/")
        if base:
            if not base.startswith(("http://", "https://")):
                raise SettingsError(f"RELAY_{prefix}_API_BASE must be an http(s) URL, got {base!r}")
            bases[provider] = base
    d = Settings
    return {
        "tasks_poller": config("TASKS_POLLER", cast=bool, default=d.tasks_poller),
        "tasks_auto_track": config("TASKS_AUTO_TRACK", cast=bool, default=d.tasks_auto_track),
        "tasks_deadline_s": config("TASKS_DEADLINE_S", cast=float, default=d.tasks_deadline_s),
        "tasks_horizon_s": config("TASKS_HORIZON_S", cast=float, default=d.tasks_horizon_s),
        "tasks_poll_interval_s": config("TASKS_POLL_INTERVAL_S", cast=float, default=d.tasks_poll_interval_s),
        "tasks_poll_max_interval_s": config(
            "TASKS_POLL_MAX_INTERVAL_S", cast=float, default=d.tasks_poll_max_interval_s
        ),
        "tasks_poll_concurrency": config("TASKS_POLL_CONCURRENCY", cast=int, default=d.tasks_poll_concurrency),
        "tasks_poll_timeout_s": config("TASKS_POLL_TIMEOUT_S", cast=float, default=d.tasks_poll_timeout_s),
        "tasks_tick_s": config("TASKS_TICK_S", cast=float, default=d.tasks_tick_s),
        "provider_api_keys": keys,
        "provider_api_bases": bases,
    }
