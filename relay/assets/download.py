"""One download: streamed to a temporary file while hashed, guarded against SSRF, bounded in size and time.

The provider's URL is a target the relay connects to, like a subscriber's: every hop (redirects included, at most
:data:`MAX_REDIRECTS`) is checked by :class:`TargetGuard`, and the connection goes to the very address it approved
(the URL's host is replaced by that address; ``Host`` and TLS SNI keep the name, so certificates are verified
against it). Nothing is held in memory beyond one chunk. A server that announces more than the limit is refused
before reading; one that sends more than it announced, or more than the limit, is cut off.

:class:`CopyFailed` says whether trying again could help (``permanent``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from relay.delivery.targets import TargetGuard, parse_url
from relay.errors import TargetRefused

MAX_REDIRECTS = 5
WRITE_CHUNK = 1 << 20
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 451})
DEFAULT_TYPE = "application/octet-stream"


class CopyFailed(Exception):
    """A download that did not produce a copy. ``permanent``: the same request would fail the same way."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Downloaded:
    path: Path
    sha256: str
    bytes: int
    content_type: str


def download_client(timeout_s: float, max_connections: int) -> httpx.AsyncClient:
    """The copier's HTTP client: no redirects followed by httpx (each hop is checked here), no proxies from the
    environment (an outbound call must go where the guard approved)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10, read=min(60.0, timeout_s), write=30, pool=timeout_s),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        follow_redirects=False,
        trust_env=False,
    )


class Downloader:
    """Downloads provider files.

    :param http: from :func:`download_client`; not closed here.
    :param guard: the SSRF check shared with deliveries.
    :param temp_dir: where partial downloads live until finalized.
    """

    def __init__(
        self, http: httpx.AsyncClient, guard: TargetGuard, temp_dir: Path, *, max_bytes: int, timeout_s: float
    ) -> None:
        self.http = http
        self.guard = guard
        self.temp_dir = temp_dir
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def fetch(self, url: str) -> Downloaded:
        """Download ``url`` to a temporary file; the caller finalizes or deletes it."""
        path = self.temp_dir / f"{secrets.token_hex(12)}.part"
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._follow(url, path)
        except TimeoutError as exc:
            path.unlink(missing_ok=True)
            raise CopyFailed(f"not downloaded within {self.timeout_s:g} s", permanent=False) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    async def _follow(self, url: str, path: Path) -> Downloaded:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                parsed = parse_url(url)
                addresses = await self.guard.addresses(parsed.host)
            except TargetRefused as exc:
                raise CopyFailed(f"refused: {exc.message}", permanent=True) from exc
            pinned = parsed.copy_with(host=addresses[0])
            headers = {"Host": parsed.netloc.decode("ascii"), "Accept-Encoding": "identity"}
            try:
                async with self.http.stream(
                    "GET", pinned, headers=headers, extensions={"sni_hostname": parsed.host}
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(parsed.join(response.headers["location"]))
                        continue
                    return await self._save(response, path)
            except httpx.TimeoutException as exc:
                raise CopyFailed(f"timed out: {type(exc).__name__}", permanent=False) from exc
            except httpx.HTTPError as exc:
                raise CopyFailed(f"connection failed: {type(exc).__name__}: {exc}", permanent=False) from exc
        raise CopyFailed(f"more than {MAX_REDIRECTS} redirects", permanent=True)

    async def _save(self, response: httpx.Response, path: Path) -> Downloaded:
        if response.status_code != 200:
            permanent = response.status_code in PERMANENT_STATUSES
            raise CopyFailed(f"HTTP {response.status_code} from the provider", permanent=permanent)
        declared = _length(response.headers.get("content-length"))
        if declared is not None and declared > self.max_bytes:
            raise CopyFailed(f"announced {declared} bytes, over the limit of {self.max_bytes}", permanent=True)
        # Asked for identity; a server compressing anyway is decoded, so the copy is the file, not its transfer form
        # (the announced length is then the compressed one, so it only serves the refusal above).
        encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        if encoded:
            declared = None
        stream = response.aiter_bytes() if encoded else response.aiter_raw()
        hasher = hashlib.sha256()
        size = 0
        pending: list[bytes] = []
        pending_size = 0
        with path.open("wb") as file:
            async for chunk in stream:
                size += len(chunk)
                if size > self.max_bytes:
                    raise CopyFailed(f"sent more than the limit of {self.max_bytes} bytes", permanent=True)
                if declared is not None and size > declared:
                    raise CopyFailed(f"sent more than the {declared} bytes it announced", permanent=False)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_CHUNK:
                    # Hashing and writing a megabyte off the event loop (both release the GIL).
                    await asyncio.to_thread(_write, file, hasher, b"".join(pending))
                    pending, pending_size = [], 0
            if pending:
                await asyncio.to_thread(_write, file, hasher, b"".join(pending))
        if declared is not None and size != declared:
            raise CopyFailed(f"got {size} of the {declared} bytes announced", permanent=False)
        content_type = response.headers.get("content-type", "").split(";")[0].strip() or DEFAULT_TYPE
        return Downloaded(path=path, sha256=hasher.hexdigest(), bytes=size, content_type=content_type[:200])


def _write(file: BinaryIO, hasher: Any, data: bytes) -> None:
    hasher.update(data)
    file.write(data)


def _length(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)
