"""Guessing the admin token through the API is as slow as through the dashboard's login form.

Both doors share one bucket per client address (``relay:rl:login:<address>``, 10 tries then one per 10 s): every
admin API request answered ``401 unauthorized`` takes a try, and while an address has none left, every admin
request it sends with an ``Authorization`` header is answered 429 *before* its token is compared, so an answer
never tells a right guess from a wrong one. Requests with the right token take nothing; a relay without Redis
lets them through (the limiter fails open, as it does for callbacks).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay.clientip import client_address, rate_key
from relay.errors import RateLimited

# Where the admin token is the credential; callbacks (/hooks), the dashboard (its own form) and tunnel streams are not.
ADMIN_PATHS = ("/v1/", "/metrics")


class AdminGuessThrottle:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ADMIN_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if "authorization" not in request.headers:
            await self.app(scope, receive, send)  # no guess made: a plain 401 costs nothing
            return
        state = request.state
        address = client_address(request, state.settings.trusted_proxies)
        key = rate_key(address) if address is not None else "unknown"
        try:
            await state.limiter.login_allowed(key, int(state.clock() * 1000))
        except RateLimited as exc:
            body = {"error": {"code": exc.code, "message": exc.message}}
            await JSONResponse(body, status_code=exc.status_code, headers=exc.headers)(scope, receive, send)
            return
        refused = False

        async def watch(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 401:
                refused = True
            await send(message)

        await self.app(scope, receive, watch)
        if refused:
            try:
                await state.limiter.check_login(key, int(state.clock() * 1000))
            except RateLimited:
                pass  # the try is counted; the next request from this address waits
