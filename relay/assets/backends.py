"""Where copies go, through one library for every backend (obstore).

Files are content-addressed: ``sha256/<first two hex>/<sha256>``, so the same bytes are stored once whichever
events point to them. A download lands in a temporary file first and is *finalized* only once complete and
checked: on the local filesystem by a rename (atomic), on object storage by a put (atomic: an upload becomes
visible only when complete). A copy interrupted by ``kill -9`` therefore never shows half-written; its temporary
file is swept at the next start.

* no ``RELAY_ASSETS_URL`` (or ``file:///path``): a directory, ``<data dir>/assets`` by default;
* ``s3://bucket/prefix`` (also R2, MinIO: ``AWS_ENDPOINT``), ``gs://``, ``az://``: object storage, credentials from
  the cloud's standard variables (``AWS_*``, ``GOOGLE_*``, ``AZURE_*``; :attr:`Settings.assets_store_options`).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import UnknownConfigurationKeyError
from obstore.store import LocalStore, from_url

from relay.assets.budget import ByteBudget
from relay.config import Settings

# Multipart uploads: S3's smallest part (5 MiB; files up to this size go in one request), two parts in flight so
# that sending overlaps reading. obstore holds, per upload, its read buffer and the parts in flight: about 3 parts,
# counted as 4. Its defaults (12 parts in flight, any number of uploads at once) peaked at 437 MB RSS.
UPLOAD_PART_BYTES = 5 * 1024 * 1024
UPLOAD_PARTS_IN_FLIGHT = 2
UPLOAD_HOLDS_BYTES = 4 * UPLOAD_PART_BYTES
# What one worker's uploads hold in memory at once, whatever the files' sizes: two large uploads, or many small
# ones (held whole).
UPLOAD_MEMORY_BYTES = 2 * UPLOAD_HOLDS_BYTES
# S3 refuses presigned URLs valid longer than a week (SigV4).
MAX_PRESIGN_S = 7 * 86_400


def key_of(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


class Backend:
    """One configured store. ``local_root`` is set for the filesystem backend (files served at ``/assets/``)."""

    def __init__(self, settings: Settings) -> None:
        url = settings.assets_url
        self.local_root: Path | None = None
        self.store: Any
        self.upload_budget = ByteBudget(UPLOAD_MEMORY_BYTES)
        if not url or url.startswith("file://"):
            root = Path(urlsplit(url).path) if url else settings.data_dir / "assets"
            root.mkdir(parents=True, exist_ok=True)
            self.local_root = root.resolve()
            self.store = LocalStore(self.local_root)
            # Inside the store's root: finalizing is a rename on one filesystem.
            self.temp_dir = self.local_root / "tmp"
        else:
            options = dict(settings.assets_store_options)
            endpoint = options.get("AWS_ENDPOINT") or options.get("AWS_ENDPOINT_URL") or ""
            client = {"allow_http": True} if endpoint.startswith("http://") else None
            self.store = _open(url, options, client)
            self.temp_dir = settings.data_dir / "assets-tmp"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.description = str(self.local_root) if self.local_root else url

    @property
    def signs(self) -> bool:
        return self.local_root is None

    async def finalize(self, temp: Path, sha256: str, content_type: str) -> None:
        """Make ``temp`` the copy of ``sha256`` (atomically); ``temp`` is gone afterwards."""
        key = key_of(sha256)
        try:
            if self.local_root is not None:
                await obstore.rename_async(self.store, str(temp.relative_to(self.local_root)), key)
                return
            try:
                await obstore.head_async(self.store, key)
                return  # stored before, by another event pointing to the same bytes
            except FileNotFoundError:
                pass
            size = temp.stat().st_size
            async with self.upload_budget.hold(size if size <= UPLOAD_PART_BYTES else UPLOAD_HOLDS_BYTES):
                await obstore.put_async(
                    self.store,
                    key,
                    temp,
                    attributes={"Content-Type": content_type},
                    chunk_size=UPLOAD_PART_BYTES,
                    max_concurrency=UPLOAD_PARTS_IN_FLIGHT,
                )
        finally:
            temp.unlink(missing_ok=True)

    def local_path(self, sha256: str) -> Path | None:
        if self.local_root is None:
            return None
        return self.local_root / key_of(sha256)

    def presign(self, sha256: str, ttl_s: int) -> str:
        url: str = obstore.sign(self.store, "GET", key_of(sha256), timedelta(seconds=min(ttl_s, MAX_PRESIGN_S)))
        return url

    async def delete(self, sha256: str) -> None:
        try:
            await obstore.delete_async(self.store, key_of(sha256))
        except FileNotFoundError:
            pass

    async def read(self, sha256: str) -> bytes:
        """The whole copy (tests and small tools; serving streams from disk instead)."""
        found = await obstore.get_async(self.store, key_of(sha256))
        return bytes(await found.bytes_async())

    def sweep_temp(self, older_than_s: float) -> int:
        """Delete temporary files left by killed copies (older than any live copy can be)."""
        removed = 0
        cutoff = time.time() - older_than_s
        for entry in os.scandir(self.temp_dir):
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed


def _open(url: str, options: dict[str, str], client: dict[str, bool] | None) -> Any:
    """The store at ``url``; variables of the cloud's environment the store has no use for (``AWS_CA_BUNDLE``,
    ``AWS_PROFILE``...: read by other tools) are left out instead of failing the start."""
    for _ in range(len(options) + 1):
        try:
            return from_url(url, config=options or None, client_options=client)  # type: ignore[arg-type]
        except UnknownConfigurationKeyError as exc:
            unknown = [name for name in options if f"'{name.lower()}'" in str(exc)]
            if not unknown:
                raise
            del options[unknown[0]]
    raise AssertionError("unreachable")


async def sweep_temp(backend: Backend, older_than_s: float) -> int:
    return await asyncio.to_thread(backend.sweep_temp, older_than_s)
