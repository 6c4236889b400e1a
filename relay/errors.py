"""Errors the relay answers with, each rendered as ``{"error": {"code": ..., "message": ...}}``.

    RelayError                      500 internal_error
    ├── BadRequest                  400 bad_request
    │   ├── UnknownProvider         404 unknown_provider
    │   ├── UnknownField            400 unknown_field        (a misspelled field must not be silently ignored)
    │   └── TargetRefused           400 target_refused       (a subscriber URL that is malformed or not public)
    │       └── TargetUnresolved    400 target_unresolved    (its name does not resolve: at delivery, a connect error)
    ├── Unauthorized                401 unauthorized         (admin API: missing or wrong bearer token)
    ├── TokenInvalid                401 invalid_token        (callback token forged, tampered, other provider)
    ├── SignatureInvalid            401 invalid_signature    (a provider's own signature is missing, stale or wrong)
    ├── NotFound                    404 not_found
    │   └── AssetLinkInvalid        404 invalid_asset_link   (an /assets/ link forged, tampered or expired)
    ├── PayloadTooLarge             413 payload_too_large
    ├── StoreUnavailable            503 store_unavailable    (the store missed its deadline: the provider should
    │                                                         retry; a RedisError is answered the same way)
    ├── Forbidden                   403 forbidden            (client address outside the provider's allow-list)
    ├── RequestTimeout              408 request_timeout      (the body trickled in slower than RELAY_BODY_TIMEOUT_S)
    ├── RateLimited                 429 rate_limited         (with Retry-After)
    ├── NotAcceptable               406 not_acceptable       (/t/{channel} without Accept: text/event-stream)
    └── TooManyStreams              503 too_many_streams     (RELAY_TUNNEL_MAX_STREAMS tunnel streams are open)

``code`` is stable and meant for programs; ``message`` is for people and never carries secrets, tokens or bodies.
"""

from __future__ import annotations


class RelayError(Exception):
    status_code: int = 500
    code: str = "internal_error"
    headers: dict[str, str] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(RelayError):
    status_code = 400
    code = "bad_request"


class UnknownProvider(BadRequest):
    status_code = 404
    code = "unknown_provider"

    def __init__(self, provider: str, known: list[str]) -> None:
        super().__init__(f"unknown provider {provider!r}; expected one of {sorted(known)}")
        self.provider = provider


class UnknownField(BadRequest):
    code = "unknown_field"

    def __init__(self, fields: list[str], allowed: list[str], where: str) -> None:
        names = ", ".join(repr(name) for name in fields)
        super().__init__(f"unknown field{'s' if len(fields) > 1 else ''} {names}; {where} takes {', '.join(allowed)}")
        self.fields = fields

    @classmethod
    def refuse(cls, body: dict[str, object], allowed: list[str], where: str) -> None:
        """Raise when ``body`` has keys outside ``allowed``: ``"filters"`` for ``"filter"`` would match everything."""
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise cls(unknown, allowed, where)


class Unauthorized(RelayError):
    status_code = 401
    code = "unauthorized"


class TokenInvalid(RelayError):
    status_code = 401
    code = "invalid_token"

    def __init__(self, message: str, provider: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider


class SignatureInvalid(RelayError):
    status_code = 401
    code = "invalid_signature"

    def __init__(self, message: str, provider: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider


class NotFound(RelayError):
    status_code = 404
    code = "not_found"


class AssetLinkInvalid(NotFound):
    """An ``/assets/`` link that is not genuine or has expired: answered like a missing file, so links cannot be
    probed."""

    code = "invalid_asset_link"

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class PayloadTooLarge(RelayError):
    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes
        # Otherwise the server keeps reading (and discarding) the rest of the body on a keep-alive connection.
        self.headers = {"Connection": "close"}


class StoreUnavailable(RelayError):
    status_code = 503
    code = "store_unavailable"


class Forbidden(RelayError):
    status_code = 403
    code = "forbidden"


class RequestTimeout(RelayError):
    status_code = 408
    code = "request_timeout"

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"request body not received within {timeout_s} s")
        self.headers = {"Connection": "close"}


class RateLimited(RelayError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, scope: str, retry_after_s: int) -> None:
        super().__init__(f"too many requests for this {scope}; retry after {retry_after_s} s")
        self.scope = scope
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(retry_after_s)}


class TargetRefused(BadRequest):
    """A subscriber URL the relay will not call: malformed, or resolving to a private/loopback/metadata address.

    Raised at registration (answered 400) and at delivery time (recorded as a ``blocked`` attempt).
    """

    code = "target_refused"

    def __init__(self, message: str, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class TargetUnresolved(TargetRefused):
    """A subscriber's host name that does not resolve (now): a delivery attempt fails as a connect error and is
    retried, not ``blocked`` (names are not resolved at registration)."""

    code = "target_unresolved"


class NotAcceptable(RelayError):
    status_code = 406
    code = "not_acceptable"


class TooManyStreams(RelayError):
    status_code = 503
    code = "too_many_streams"
