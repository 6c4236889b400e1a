"""Callback URL tokens: signed with itsdangerous, binding a provider and an optional tag.

Most providers sign nothing, so the token in ``/hooks/{provider}/{token}`` is how the relay knows a callback is
genuine. Tokens never expire (a provider may call back days later); rotating ``RELAY_SECRET_KEY`` (add a new key
at the end, keep the old ones while their URLs are in use) is how they are retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from relay.errors import TokenInvalid

CALLBACK_SALT = "relay.callback"
MAX_TAG_LENGTH = 200
# Genuine tokens remembered after their first check; only the signing keys can mint more, so this bounds memory
# against a flood of distinct URLs, not against forgeries (those are never remembered).
MAX_VERIFIED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class CallbackToken:
    provider: str
    tag: str | None


class CallbackTokens:
    """Issues and reads callback tokens.

    :param secret_keys: oldest -> newest; the newest signs, every one of them verifies.
    """

    def __init__(self, secret_keys: Sequence[str]) -> None:
        self._serializer = URLSafeSerializer(list(secret_keys), salt=CALLBACK_SALT)
        self._verified: dict[str, CallbackToken] = {}

    def issue(self, provider: str, tag: str | None) -> str:
        token = self._serializer.dumps([provider, tag] if tag else [provider])
        assert isinstance(token, str)
        return token

    def read(self, token: str, provider: str) -> CallbackToken:
        """The token's content; raises :class:`TokenInvalid` unless it is genuine and issued for ``provider``."""
        # A provider calls back on the same URL again and again: the HMAC check (a pure function of the token and
        # the keys, fixed for this object's life) is done once per token.
        found = self._verified.get(token)
        if found is None:
            found = self._verify(token, provider)
            if len(self._verified) >= MAX_VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = found
        if found.provider != provider:
            raise TokenInvalid(f"callback token was issued for another provider, not {provider!r}", provider=provider)
        return found

    def _verify(self, token: str, provider: str) -> CallbackToken:
        try:
            value = self._serializer.loads(token)
        except BadData as exc:
            raise TokenInvalid("callback token is not valid", provider=provider) from exc
        if not isinstance(value, list) or not 1 <= len(value) <= 2 or not all(isinstance(v, str) for v in value):
            raise TokenInvalid("callback token is not valid", provider=provider)
        return CallbackToken(provider=value[0], tag=value[1] if len(value) == 2 else None)
