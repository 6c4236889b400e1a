"""Provider adapters: each turns one provider's callback body into a :class:`~relay.providers.base.TaskUpdate`."""

from __future__ import annotations

from relay.providers.acedata import AceDataProvider
from relay.providers.base import Provider
from relay.providers.generic import GenericProvider
from relay.providers.kie import KieProvider
from relay.providers.ttapi import TTAPIProvider

PROVIDER_NAMES: tuple[str, ...] = ("acedata", "ttapi", "kie", "generic")


def build_providers(kie_webhook_hmac_key: bytes | None = None) -> dict[str, Provider]:
    """One adapter per name in :data:`PROVIDER_NAMES`; Kie verifies signatures only when given a key."""
    providers: dict[str, Provider] = {
        "acedata": AceDataProvider(),
        "ttapi": TTAPIProvider(),
        "kie": KieProvider(kie_webhook_hmac_key),
        "generic": GenericProvider(),
    }
    return providers


__all__ = [
    "PROVIDER_NAMES",
    "AceDataProvider",
    "GenericProvider",
    "KieProvider",
    "Provider",
    "TTAPIProvider",
    "build_providers",
]
