"""What every dashboard handler shares: templates, the login guard, form parsing, HTML error pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from relay import __version__
from relay.dashboard import session
from relay.dashboard.session import Session

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_FORM_BYTES = 16 * 1024
# No inline scripts and nothing from elsewhere: an injected <script> would not run even if escaping failed.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
Handler = Callable[[Request, Session], Awaitable[Response]]


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200, sess: Session | None = None
) -> Response:
    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {"session": sess, "csrf_field": session.CSRF_FIELD, "version": __version__, **context},
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )
    return response


def error_page(request: Request, status_code: int, title: str, message: str, sess: Session | None) -> Response:
    return page(request, "error.html", {"title": title, "message": message}, status_code, sess)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path only, never another site (open redirect)."""
    if not value or not value.startswith("/dashboard") or "//" in value or "\\" in value:
        return "/dashboard"
    return value


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/dashboard/login?{urlencode({'next': target})}", status_code=303)


async def read_form(request: Request) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` body of at most :data:`MAX_FORM_BYTES`, else None."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        return None


def viewer(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page behind the login: without a valid session, the login form (then back here)."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        sess = await session.current(request)
        if sess is None:
            return login_redirect(request)
        return await handler(request, sess)

    return guarded


FormHandler = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]


def action(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """A state-changing POST: a valid session and its CSRF token in the form, else 403 and nothing done."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        sess = await session.current(request)
        if sess is None:
            return error_page(request, 403, "Not logged in", "Log in again, then repeat the action.", None)
        form = await read_form(request)
        if form is None:
            return error_page(request, 400, "Bad request", "The form could not be read.", sess)
        if not session.csrf_valid(request, sess, form.get(session.CSRF_FIELD)):
            message = "The form was stale or did not come from this dashboard. Reload the page and try again."
            return error_page(request, 403, "Refused", message, sess)
        return await handler(request, sess, form)

    return guarded


def back_to(path: str, notice: str) -> Response:
    """Post/redirect/get: the notice is a fixed code the page turns into text, never text from the request."""
    return RedirectResponse(f"{path}?{urlencode({'notice': notice})}", status_code=303)
