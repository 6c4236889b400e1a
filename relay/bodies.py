"""Reading a request body within bounds: a size limit checked as bytes arrive, and a deadline for slow senders."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from relay.errors import BadRequest, PayloadTooLarge, RequestTimeout


async def read_body(request: Request, limit_bytes: int, timeout_s: float) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit_bytes`` (before reading it all),
    and with 408 when it has not all arrived within ``timeout_s``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise BadRequest(f"Content-Length must be a number of bytes, got {declared!r}")
        if int(declared) > limit_bytes:
            raise PayloadTooLarge(limit_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit_bytes:
                    raise PayloadTooLarge(limit_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(timeout_s) from None
    return b"".join(chunks)
