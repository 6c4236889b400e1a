"""Links to copies. Copies in the data dir are served at ``/assets/<token>``: the token (itsdangerous, salt
``relay.asset``) names the file and its content type and expires after ``RELAY_ASSETS_LINK_TTL_S``. Copies in
object storage get the store's own presigned URLs (at most a week: S3's limit). A link is made at each
rendering, so a link read today is valid from today.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from relay.assets.backends import Backend
from relay.errors import AssetLinkInvalid

ASSET_SALT = "relay.asset"
SHA256_HEX = frozenset("0123456789abcdef")


class Links:
    """Makes and reads links to copies.

    :param secret_keys: oldest -> newest (``RELAY_SECRET_KEY``); the newest signs.
    :param public_url: the relay's public base URL.
    :param ttl_s: how long a link stays valid.
    """

    def __init__(
        self, backend: Backend, secret_keys: Sequence[str], public_url: str, ttl_s: int, clock: Callable[[], float]
    ) -> None:
        self.backend = backend
        self.public_url = public_url
        self.ttl_s = ttl_s
        clocked = _clocked(clock)
        self._serializer = URLSafeTimedSerializer(list(secret_keys), salt=ASSET_SALT, signer=clocked)

    def url(self, sha256: str, content_type: str) -> str:
        if self.backend.signs:
            return self.backend.presign(sha256, self.ttl_s)
        token = self._serializer.dumps([sha256, content_type])
        return f"{self.public_url}/assets/{token}"

    def read(self, token: str) -> tuple[str, str]:
        """``(sha256, content type)`` of a genuine, unexpired token; raises :class:`AssetLinkInvalid`."""
        try:
            value = self._serializer.loads(token, max_age=self.ttl_s)
        except SignatureExpired as exc:
            raise AssetLinkInvalid("asset link expired; read the event again for a fresh one", expired=True) from exc
        except BadData as exc:
            raise AssetLinkInvalid("asset link is not valid") from exc
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(part, str) for part in value)
            or len(value[0]) != 64
            or not set(value[0]) <= SHA256_HEX
        ):
            raise AssetLinkInvalid("asset link is not valid")
        return value[0], value[1]


def _clocked(clock: Callable[[], float]) -> type:
    """A TimestampSigner reading ``clock`` (itsdangerous's override point), so tests control expiry."""
    from itsdangerous import TimestampSigner

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockedSigner
