"""The dashboard's buttons: each a POST with the session's CSRF token, answered with a redirect or a page.

They call the same store methods as the admin API, so a click does exactly what the matching API call does.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from relay.dashboard import session, views
from relay.dashboard.session import Session
from relay.dashboard.web import action, back_to, error_page, page
from relay.errors import NotFound, RelayError
from relay.routes import deliveries as deliveries_api
from relay.routes.events import callback_url
from relay.store.subscriptions import Subscription

logger = logging.getLogger(__name__)


def _now_ms(request: Request) -> int:
    return int(request.state.clock() * 1000)


@action
async def logout(request: Request, sess: Session, form: dict[str, str]) -> Response:
    response = RedirectResponse("/dashboard/login?notice=logged_out", status_code=303)
    session.end(request.state.settings, response)
    return response


@action
async def replay(request: Request, sess: Session, form: dict[str, str]) -> Response:
    event_id = request.path_params["event_id"]
    wanted = form.get("subscription_id") or None
    try:
        created = await deliveries_api.replay(request, event_id, wanted)
    except NotFound as exc:
        return error_page(request, 404, "Not found", exc.message, sess)
    logger.info("dashboard replay event_id=%s deliveries=%d", event_id, len(created))
    return back_to(f"/dashboard/events/{event_id}", "replayed" if created else "replayed_none")


@action
async def retry_assets(request: Request, sess: Session, form: dict[str, str]) -> Response:
    event_id = request.path_params["event_id"]
    assets = request.state.assets
    if assets is None:
        return error_page(request, 404, "Not found", "Copying of events' files is off (RELAY_ASSETS).", sess)
    try:
        await assets.retry(event_id)
    except RelayError as exc:
        return error_page(request, exc.status_code, "Cannot retry", exc.message, sess)
    logger.info("dashboard assets retry event_id=%s", event_id)
    return back_to(f"/dashboard/events/{event_id}", "assets_retried")


@action
async def retry(request: Request, sess: Session, form: dict[str, str]) -> Response:
    delivery_id = request.path_params["delivery_id"]
    if await request.state.deliveries.requeue(delivery_id, _now_ms(request)) is None:
        return error_page(request, 404, "Not found", f"No delivery {delivery_id!r}.", sess)
    found = await request.state.deliveries.get(delivery_id)
    logger.info("dashboard retry delivery_id=%s", delivery_id)
    return back_to(f"/dashboard/events/{found[0].event_id}" if found else "/dashboard", "retried")


async def _subscription(request: Request) -> Subscription | None:
    found: Subscription | None = await request.state.subscriptions.get(request.path_params["subscription_id"])
    return found


@action
async def set_enabled(request: Request, sess: Session, form: dict[str, str]) -> Response:
    sub = await _subscription(request)
    if sub is None or form.get("enabled") not in ("true", "false"):
        return error_page(request, 404, "Not found", "No such subscription.", sess)
    enabled = form["enabled"] == "true"
    # As PATCH {"enabled": ...} does: enabling forgets the failure streak that may have disabled it.
    if enabled:
        changed = replace(sub, enabled=True, disabled_reason="", failing_since_ms=0)
    else:
        changed = replace(sub, enabled=False, disabled_reason=sub.disabled_reason or "disabled in the dashboard")
    try:
        await request.state.subscriptions.save(changed)
    except LookupError:
        return error_page(request, 404, "Not found", "No such subscription.", sess)
    logger.info("dashboard subscription_id=%s enabled=%s", sub.id, enabled)
    return back_to("/dashboard/subscriptions", "enabled" if enabled else "disabled")


@action
async def rotate_secret(request: Request, sess: Session, form: dict[str, str]) -> Response:
    subscription_id = request.path_params["subscription_id"]
    rotated: Subscription | None = await request.state.subscriptions.rotate_secret(
        subscription_id, _now_ms(request), request.state.settings.secret_overlap_s
    )
    if rotated is None:
        return error_page(request, 404, "Not found", "No such subscription.", sess)
    logger.info("dashboard rotated secret subscription_id=%s", subscription_id)
    # Shown once, on this answer (never in a URL): the subscriber needs it before the overlap window ends.
    context = {
        **await views.subscriptions_context(request),
        "rotated": rotated,
        "overlap_h": request.state.settings.secret_overlap_s / 3600,
        "notice": None,
    }
    return page(request, "subscriptions.html", context, sess=sess)


@action
async def create_callback_url(request: Request, sess: Session, form: dict[str, str]) -> Response:
    provider, tag = form.get("provider", ""), form.get("tag", "").strip() or None
    context = {**views.filter_options(request), "created": None, "nav": "callback-urls", "form": form}
    if provider not in request.state.providers:
        return page(request, "callback_urls.html", {**context, "error": "Choose a provider."}, 400, sess)
    if tag is not None and len(tag) > 200:
        return page(request, "callback_urls.html", {**context, "error": "A tag has at most 200 characters."}, 400, sess)
    url = callback_url(request.state.settings.public_url, provider, request.state.tokens.issue(provider, tag))
    created = {"url": url, "provider": provider, "tag": tag}
    return page(request, "callback_urls.html", {**context, "created": created}, sess=sess)
