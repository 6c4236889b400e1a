"""The dashboard's pages at ``/dashboard``: login, events (live), one event, subscriptions, callback URLs, tunnels.

State-changing POSTs live in :mod:`relay.dashboard.actions`, the live streams in :mod:`relay.dashboard.live`.
"""

from __future__ import annotations

import importlib.resources
import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from relay.clientip import client_address, rate_key
from relay.dashboard import actions, live, queries, session, views
from relay.dashboard.session import Session
from relay.dashboard.web import error_page, page, read_form, safe_next, viewer
from relay.logs import kv

logger = logging.getLogger(__name__)

NOTICES = {
    "replayed": "Replay queued: the new deliveries are below.",
    "replayed_none": "No enabled subscription matches this event: nothing was queued.",
    "retried": "Delivery queued again.",
    "assets_retried": "Failed copies queued again.",
    "enabled": "Subscription enabled.",
    "disabled": "Subscription disabled: no new deliveries until it is enabled again.",
    "logged_out": "Logged out.",
}
STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript", "favicon.svg": "image/svg+xml"}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("notice", ""))


async def login_form(request: Request) -> Response:
    if await session.current(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    context = {"next": safe_next(request.query_params.get("next")), "error": None, "notice": _notice(request)}
    return page(request, "login.html", context)


async def login(request: Request) -> Response:
    address = client_address(request, request.state.settings.trusted_proxies)
    # The admin API's wrong tokens take from the same bucket (relay/adminthrottle.py): one limit for both doors.
    await request.state.limiter.check_login(
        rate_key(address) if address else "unknown", int(request.state.clock() * 1000)
    )
    form = await read_form(request) or {}
    target = safe_next(form.get("next"))
    if not session.token_matches(request.state.settings, form.get("token", "")):
        logger.warning("dashboard login refused", extra=kv(client=address))
        context = {"next": target, "error": "That is not the admin token.", "notice": None}
        return page(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    session.start(request.state.settings, response)
    return response


@viewer
async def events_page(request: Request, sess: Session) -> Response:
    flt, values = views.event_filter(request)
    context = {
        **await views.rows_context(request, flt),
        **await views.charts_context(request),
        **views.filter_options(request),
        "filters": values,
        "stream_query": urlencode({name: value for name, value in values.items() if value}),
        "nav": "events",
    }
    return page(request, "events.html", context, sess=sess)


@viewer
async def event_page(request: Request, sess: Session) -> Response:
    event_id = request.path_params["event_id"]
    detail = await queries.event_detail(request.state.store, event_id)
    if detail is None:
        return error_page(request, 404, "No such event", "It never arrived, or it expired.", sess)
    context = {
        "detail": detail,
        "event_json": views.event_json(detail.event),
        **await views.deliveries_context(request, event_id),
        "assets": await request.state.assets.states(event_id) if request.state.assets else [],
        "notice": _notice(request),
        "nav": "events",
    }
    return page(request, "event.html", context, sess=sess)


@viewer
async def event_deliveries(request: Request, sess: Session) -> Response:
    """The deliveries section alone: the event page refreshes it while a delivery is still under way."""
    context = await views.deliveries_context(request, request.path_params["event_id"])
    return page(request, "_deliveries.html", context, sess=sess)


@viewer
async def subscriptions_page(request: Request, sess: Session) -> Response:
    context = {**await views.subscriptions_context(request), "notice": _notice(request)}
    return page(request, "subscriptions.html", context, sess=sess)


@viewer
async def callback_urls_page(request: Request, sess: Session) -> Response:
    context = {**views.filter_options(request), "created": None, "nav": "callback-urls"}
    return page(request, "callback_urls.html", context, sess=sess)


@viewer
async def tunnels_page(request: Request, sess: Session) -> Response:
    return page(request, "tunnels.html", await views.tunnels_context(request), sess=sess)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    content = importlib.resources.files("relay.dashboard").joinpath("static", name).read_bytes()
    # Not behind the login: nothing secret in them, and the login page needs its stylesheet.
    return Response(content, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=300"})


ROUTES = [
    Route("/dashboard", events_page, methods=["GET"]),
    Route("/dashboard/login", login_form, methods=["GET"]),
    Route("/dashboard/login", login, methods=["POST"]),
    Route("/dashboard/logout", actions.logout, methods=["POST"]),
    Route("/dashboard/events/stream", live.events_stream, methods=["GET"]),
    Route("/dashboard/events/{event_id}", event_page, methods=["GET"]),
    Route("/dashboard/events/{event_id}/deliveries", event_deliveries, methods=["GET"]),
    Route("/dashboard/events/{event_id}/replay", actions.replay, methods=["POST"]),
    Route("/dashboard/deliveries/{delivery_id}/retry", actions.retry, methods=["POST"]),
    Route("/dashboard/events/{event_id}/assets/retry", actions.retry_assets, methods=["POST"]),
    Route("/dashboard/subscriptions", subscriptions_page, methods=["GET"]),
    Route("/dashboard/subscriptions/{subscription_id}/enabled", actions.set_enabled, methods=["POST"]),
    Route("/dashboard/subscriptions/{subscription_id}/rotate-secret", actions.rotate_secret, methods=["POST"]),
    Route("/dashboard/callback-urls", callback_urls_page, methods=["GET"]),
    Route("/dashboard/callback-urls", actions.create_callback_url, methods=["POST"]),
    Route("/dashboard/tunnels", tunnels_page, methods=["GET"]),
    Route("/dashboard/static/{name}", static, methods=["GET"]),
]
