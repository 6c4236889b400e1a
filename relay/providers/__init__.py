"""Provider adapters: each turns one provider's callback body into a :class:`~relay.providers.base.TaskUpdate`."""

from __future__ import annotations

from collections.abc import Sequence

from relay.providers.acedata import AceDataProvider
from relay.providers.base import Provider
from relay.providers.generic import GenericProvider
from relay.providers.kie import KieProvider
from relay.providers.replicate import ReplicateProvider
from relay.providers.ttapi import TTAPIProvider

PROVIDER_NAMES: tuple[str, ...] = ("acedata", "ttapi", "kie", "generic", "replicate")


def build_providers(
    kie_webhook_hmac_key: bytes | None = None,
    replicate_webhook_secrets: Sequence[str] = (),
    signature_tolerance_s: int = 300,
) -> dict[str, Provider]:
    """One adapter per name in :data:`PROVIDER_NAMES`; Kie and Replicate verify signatures only when given a key."""
    providers: dict[str, Provider] = {
        "acedata": AceDataProvider(),
        "ttapi": TTAPIProvider(),
        "kie": KieProvider(kie_webhook_hmac_key),
        "generic": GenericProvider(),
        "replicate": ReplicateProvider(replicate_webhook_secrets, signature_tolerance_s),
    }
    return providers


__all__ = [
    "PROVIDER_NAMES",
    "AceDataProvider",
    "GenericProvider",
    "KieProvider",
    "Provider",
    "ReplicateProvider",
    "TTAPIProvider",
    "build_providers",
]
