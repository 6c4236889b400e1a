"""The dashboard's login session: a signed cookie, and a CSRF token for every form.

The cookie holds ``{"sid", "tok"}`` signed with ``RELAY_SECRET_KEY`` (salt ``relay.dashboard``): ``sid`` is random
per login, ``tok`` a fingerprint of the admin token, so changing ``RELAY_ADMIN_TOKEN`` logs every browser out.
The token itself never leaves the login form's POST body. Forms carry ``csrf``, the ``sid`` signed under a second
salt; with ``SameSite=Strict`` that is two locks on every state-changing request. Logging out records the ``sid``
in Redis (:mod:`relay.store.sessions`), so the cookie is dead server-side, not only deleted from the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from relay.config import Settings
from relay.store.sessions import SessionRevocations

COOKIE = "relay_dashboard"
SESSION_SALT = "relay.dashboard"
CSRF_SALT = "relay.dashboard.csrf"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    csrf: str


def _keys(settings: Settings) -> list[str]:
    # Oldest -> newest, as itsdangerous wants: the newest signs, all of them verify.
    return [str(key) for key in settings.secret_keys]


def _fingerprint(settings: Settings) -> str:
    keyed = hmac.new(str(settings.secret_keys[-1]).encode(), str(settings.admin_token).encode(), hashlib.sha256)
    return keyed.hexdigest()[:32]


def token_matches(settings: Settings, given: str) -> bool:
    """Constant time over digests, as :func:`relay.auth.require_admin` compares the bearer token."""
    expected = hashlib.sha256(str(settings.admin_token).encode()).digest()
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), expected)


def _csrf_for(settings: Settings, sid: str) -> str:
    return URLSafeSerializer(_keys(settings), salt=CSRF_SALT).dumps(sid)


def start(settings: Settings, response: Response) -> None:
    """Log the browser in: set the session cookie on ``response``."""
    value = URLSafeTimedSerializer(_keys(settings), salt=SESSION_SALT).dumps(
        {"sid": secrets.token_urlsafe(16), "tok": _fingerprint(settings)}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_MAX_AGE_S,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://"),
    )


async def end(request: Request, sess: Session, response: Response) -> None:
    """Log out: the session ends server-side (its cookie is refused from now on, copies included) and in the browser."""
    await SessionRevocations(request.state.redis).revoke(sess.sid, SESSION_MAX_AGE_S)
    settings: Settings = request.state.settings
    response.delete_cookie(
        COOKIE, path="/dashboard", httponly=True, samesite="strict", secure=settings.public_url.startswith("https://")
    )


async def current(request: Request) -> Session | None:
    """The request's valid session, or None: no cookie, forged, expired, logged out, or from before an admin
    token change."""
    found = _signed_session(request)
    if found is None or await SessionRevocations(request.state.redis).revoked(found.sid):
        return None
    return found


def _signed_session(request: Request) -> Session | None:
    settings: Settings = request.state.settings
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = URLSafeTimedSerializer(_keys(settings), salt=SESSION_SALT).loads(raw, max_age=SESSION_MAX_AGE_S)
    except BadSignature:  # SignatureExpired is a BadSignature: both mean "log in again"
        return None
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str) or not isinstance(data.get("tok"), str):
        return None
    if not hmac.compare_digest(data["tok"], _fingerprint(settings)):
        return None
    return Session(sid=data["sid"], csrf=_csrf_for(settings, data["sid"]))


def csrf_valid(request: Request, session: Session, given: str | None) -> bool:
    if not given:
        return False
    try:
        sid = URLSafeSerializer(_keys(request.state.settings), salt=CSRF_SALT).loads(given)
    except BadSignature:
        return False
    return isinstance(sid, str) and hmac.compare_digest(sid, session.sid)
