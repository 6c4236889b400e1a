"""The dashboard's buttons: each a POST with the session's CSRF token, answered with a redirect or a page.

Each calls the same action (:mod:`relay.actions`) as the admin API, so a click does exactly what the matching API
call does.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from relay import actions
from relay.dashboard import session, views
from relay.dashboard.session import Session
from relay.dashboard.web import action, back_to, error_page, page
from relay.errors import NotFound, RelayError
from relay.logs import kv

logger = logging.getLogger(__name__)


@action
async def logout(request: Request, sess: Session, form: dict[str, str]) -> Response:
    response = RedirectResponse("/dashboard/login?notice=logged_out", status_code=303)
    await session.end(request, sess, response)
    return response


@action
async def replay(request: Request, sess: Session, form: dict[str, str]) -> Response:
    event_id = request.path_params["event_id"]
    wanted = form.get("subscription_id") or None
    try:
        created = await actions.replay(request.state, event_id, wanted)
    except NotFound as exc:
        return error_page(request, 404, "Not found", exc.message, sess)
    logger.info("dashboard replay", extra=kv(event_id=event_id, deliveries=len(created)))
    return back_to(f"/dashboard/events/{event_id}", "replayed" if created else "replayed_none")


@action
async def retry_assets(request: Request, sess: Session, form: dict[str, str]) -> Response:
    event_id = request.path_params["event_id"]
    try:
        await actions.retry_assets(request.state, event_id)
    except RelayError as exc:
        return error_page(request, exc.status_code, "Cannot retry", exc.message, sess)
    logger.info("dashboard assets retry", extra=kv(event_id=event_id))
    return back_to(f"/dashboard/events/{event_id}", "assets_retried")


@action
async def retry(request: Request, sess: Session, form: dict[str, str]) -> Response:
    delivery_id = request.path_params["delivery_id"]
    try:
        delivery = await actions.retry(request.state, delivery_id)
    except NotFound:
        return error_page(request, 404, "Not found", f"No delivery {delivery_id!r}.", sess)
    logger.info("dashboard retry", extra=kv(delivery_id=delivery_id))
    return back_to(f"/dashboard/events/{delivery.event_id}", "retried")


@action
async def set_enabled(request: Request, sess: Session, form: dict[str, str]) -> Response:
    subscription_id = request.path_params["subscription_id"]
    if form.get("enabled") not in ("true", "false"):
        return error_page(request, 404, "Not found", "No such subscription.", sess)
    enabled = form["enabled"] == "true"
    try:
        await actions.set_enabled(request.state, subscription_id, enabled, "disabled in the dashboard")
    except NotFound:
        return error_page(request, 404, "Not found", "No such subscription.", sess)
    logger.info("dashboard", extra=kv(subscription_id=subscription_id, enabled=enabled))
    return back_to("/dashboard/subscriptions", "enabled" if enabled else "disabled")


@action
async def rotate_secret(request: Request, sess: Session, form: dict[str, str]) -> Response:
    subscription_id = request.path_params["subscription_id"]
    try:
        rotated = await actions.rotate_secret(request.state, subscription_id)
    except NotFound:
        return error_page(request, 404, "Not found", "No such subscription.", sess)
    logger.info("dashboard rotated secret", extra=kv(subscription_id=subscription_id))
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
    try:
        url = actions.issue_callback_url(request.state, provider, tag)
    except RelayError as exc:
        return page(request, "callback_urls.html", {**context, "error": exc.message}, 400, sess)
    created = {"url": url, "provider": provider, "tag": tag}
    return page(request, "callback_urls.html", {**context, "created": created}, sess=sess)
