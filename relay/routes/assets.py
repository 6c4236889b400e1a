"""Copies of events' files: the signed links that serve them, and retrying the copies that failed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from relay import actions
from relay.assets.service import Assets
from relay.auth import require_admin
from relay.errors import NotFound


def _assets(request: Request) -> Assets:
    assets: Assets | None = request.state.assets
    if assets is None:
        raise NotFound("copying of events' files is off (RELAY_ASSETS)")
    return assets


async def serve_asset(request: Request) -> Response:
    """``GET /assets/{token}``: the link is the credential (signed, expiring); no admin token needed."""
    assets = _assets(request)
    sha256, content_type = assets.links.read(request.path_params["token"])
    path = assets.backend.local_path(sha256)
    if path is None or not path.is_file():
        raise NotFound("no such asset (it may have expired)")
    return FileResponse(
        path,
        media_type=content_type,
        headers={
            "Cache-Control": "private, max-age=3600, immutable",
            "ETag": f'"{sha256}"',
            # A provider's file is served from the relay's own origin, where the dashboard lives: whatever it is
            # (an HTML page, an SVG with scripts), it runs nothing and reaches nothing here.
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def retry_assets(request: Request) -> Response:
    require_admin(request)
    event_id = request.path_params["event_id"]
    summary = await actions.retry_assets(request.state, event_id)
    return JSONResponse({"event_id": event_id, "assets": summary}, status_code=202)
