"""Serves ``relay/openapi.json``, the OpenAPI 3.1 document of the relay's HTTP API, at ``/openapi.json``.

The document is a static file shipped in the package: to document a new route, edit it
(``tests/test_openapi.py`` fails while a route the app mounts is missing there, or documented but not mounted, and
validates it as OpenAPI). Only ``info`` is filled in when served: this release's version and the providers it runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import __version__


@cache
def _static_text() -> str:
    return files("relay").joinpath("openapi.json").read_text(encoding="utf-8")


def openapi_document(providers: Sequence[str]) -> dict[str, Any]:
    """The document as served: the static file with this version and these providers in ``info``. A new object
    each call (about a millisecond), so no caller can change what the next one gets."""
    document: dict[str, Any] = json.loads(_static_text())
    document["info"].update(version=__version__, description=f"Providers: {', '.join(providers)}.")
    return document


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document(list(request.state.providers)))
