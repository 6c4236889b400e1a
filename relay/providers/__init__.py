"""Provider adapters: each turns one provider's callback body into a :class:`~relay.providers.base.TaskUpdate`.

docs/providers.md lists every provider: its callback field, what it signs, its retries.
"""

from __future__ import annotations

from collections.abc import Sequence

from relay.names import PROVIDER_NAMES  # defined there so the command line reads it without loading the adapters
from relay.providers.acedata import AceDataProvider
from relay.providers.apiframe import APIFrameProvider
from relay.providers.base import Provider
from relay.providers.fal import FalProvider
from relay.providers.generic import GenericProvider
from relay.providers.journeyapi import JourneyAPIProvider
from relay.providers.jwks import KeyCache
from relay.providers.kie import KieProvider
from relay.providers.leonardo import LeonardoProvider
from relay.providers.luma import LumaProvider
from relay.providers.minimax import MiniMaxProvider
from relay.providers.mjproxy import MJProxyProvider
from relay.providers.piapi import PiAPIProvider
from relay.providers.replicate import ReplicateProvider
from relay.providers.ttapi import TTAPIProvider
from relay.providers.volcengine import VolcengineProvider


def build_providers(
    kie_webhook_hmac_key: bytes | None = None,
    replicate_webhook_secrets: Sequence[str] = (),
    signature_tolerance_s: int = 300,
    *,
    fal_jwks_url: str = "",
    piapi_webhook_secret: str | None = None,
    apiframe_api_key: str | None = None,
    leonardo_webhook_api_key: str | None = None,
) -> dict[str, Provider]:
    """One adapter per name in :data:`PROVIDER_NAMES`; each verifies signatures only when given its key."""
    providers: dict[str, Provider] = {
        "acedata": AceDataProvider(),
        "ttapi": TTAPIProvider(),
        "kie": KieProvider(kie_webhook_hmac_key),
        "generic": GenericProvider(),
        "replicate": ReplicateProvider(replicate_webhook_secrets, signature_tolerance_s),
        "fal": FalProvider(KeyCache(fal_jwks_url) if fal_jwks_url else None, signature_tolerance_s),
        "piapi": PiAPIProvider(piapi_webhook_secret),
        "apiframe": APIFrameProvider(apiframe_api_key, signature_tolerance_s),
        "minimax": MiniMaxProvider(),
        "leonardo": LeonardoProvider(leonardo_webhook_api_key),
        "journeyapi": JourneyAPIProvider(),
        "luma": LumaProvider(),
        "volcengine": VolcengineProvider(),
        "mjproxy": MJProxyProvider(),
    }
    return providers


__all__ = [
    "PROVIDER_NAMES",
    "APIFrameProvider",
    "AceDataProvider",
    "FalProvider",
    "GenericProvider",
    "JourneyAPIProvider",
    "KieProvider",
    "LeonardoProvider",
    "LumaProvider",
    "MJProxyProvider",
    "MiniMaxProvider",
    "PiAPIProvider",
    "Provider",
    "ReplicateProvider",
    "TTAPIProvider",
    "VolcengineProvider",
    "build_providers",
]
