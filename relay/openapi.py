"""The OpenAPI 3 document of the relay's HTTP API, served at ``/openapi.json``.

One entry of :data:`PATHS` per route: to document a new route, add its path with one :func:`operation` per method
(``tests/test_openapi.py`` fails while a route in ``relay.routes.ROUTES`` is missing here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import __version__

Schema = dict[str, Any]

ERROR: Schema = {"$ref": "#/components/schemas/Error"}
EVENT: Schema = {"$ref": "#/components/schemas/Event"}
JSON_OBJECT: Schema = {"type": "object"}


def param(name: str, where: str, schema: Schema, *, required: bool = False, description: str = "") -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}  # fmt: skip


def operation(
    summary: str,
    responses: dict[int, tuple[str, Schema | None]],
    *,
    parameters: Sequence[Schema] = (),
    body: dict[str, Schema] | None = None,
    admin: bool = False,
) -> Schema:
    """One operation. ``responses`` maps a status to (description, JSON schema or None); ``body`` maps media
    types to schemas. Admin operations get the bearer scheme and the 401 answer."""
    answers = dict(responses)
    if admin:
        answers.setdefault(401, ("missing or wrong admin token", ERROR))
    op: Schema = {
        "summary": summary,
        "parameters": list(parameters),
        "responses": {
            str(status): {
                "description": text,
                **({"content": {"application/json": {"schema": schema}}} if schema else {}),
            }
            for status, (text, schema) in sorted(answers.items())
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {media: {"schema": s} for media, s in body.items()}}
    op["security"] = [{"admin": []}] if admin else []
    return op


def _response(description: str, schema: Schema | None) -> Schema:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PROVIDER = param("provider", "path", {"type": "string"}, description="adapter name, e.g. `kie`")
CALLBACK_RESPONSES: dict[int, tuple[str, Schema | None]] = {
    200: ("stored (or a duplicate of a stored callback)", {"$ref": "#/components/schemas/Ack"}),
    400: ("malformed request (e.g. a bad Content-Length)", ERROR),
    401: ("bad callback token, or a provider signature is missing, stale or wrong", ERROR),
    403: ("client address outside the provider's allow-list", ERROR),
    404: ("unknown provider", ERROR),
    408: ("body not received within RELAY_BODY_TIMEOUT_S", ERROR),
    413: ("body over the limit", ERROR),
    429: ("rate limited; see Retry-After", ERROR),
    503: ("the store is unavailable; retry", ERROR),
}

PATHS: dict[str, Schema] = {
    "/hooks/{provider}/{token}": {
        "post": operation(
            "Receive a provider's callback; answered once it is stored",
            CALLBACK_RESPONSES,
            parameters=[PROVIDER, param("token", "path", {"type": "string"}, description="the callback URL token")],
            body={"application/json": {}, "application/octet-stream": {"type": "string", "format": "binary"}},
        )
    },
    "/v1/callback-urls": {
        "post": operation(
            "Issue a callback URL for a provider",
            {
                201: ("the URL", {"$ref": "#/components/schemas/CallbackUrl"}),
                400: ("malformed body", ERROR),
                404: ("unknown provider", ERROR),
            },
            body={
                "application/json": {
                    "type": "object",
                    "required": ["provider"],
                    "properties": {
                        "provider": {"type": "string"},
                        "tag": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
                    },
                    "additionalProperties": False,
                }
            },
            admin=True,
        )
    },
    "/v1/events": {
        "get": operation(
            "List events, newest first",
            {
                200: ("a page of events", {"$ref": "#/components/schemas/EventPage"}),
                400: ("bad limit or cursor", ERROR),
            },
            parameters=[
                param("provider", "query", {"type": "string"}),
                param("task_id", "query", {"type": "string"}),
                param("type", "query", {"type": "string"}),
                param("tag", "query", {"type": "string"}),
                param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
                param("cursor", "query", {"type": "string"}, description="`next_cursor` of the previous page"),
            ],
            admin=True,
        )
    },
    "/v1/events/{event_id}": {
        "get": operation(
            "One event",
            {200: ("the event", EVENT), 404: ("no such event", ERROR)},
            parameters=[param("event_id", "path", {"type": "string"})],
            admin=True,
        )
    },
    "/healthz": {"get": operation("The process is up; says whether Redis answers", {200: ("up", JSON_OBJECT)})},
    "/readyz": {
        "get": operation(
            "Redis answers and persists (AOF or RDB)",
            {200: ("ready", JSON_OBJECT), 503: ("Redis does not answer, or keeps nothing on disk", ERROR)},
        )
    },
    "/metrics": {
        "get": operation(
            "Prometheus metrics (bearer: the admin token or RELAY_METRICS_TOKEN)",
            {200: ("Prometheus text exposition format", None)},
            admin=True,
        )
    },
    "/openapi.json": {"get": operation("This document", {200: ("OpenAPI 3.1", JSON_OBJECT)})},
}

COMPONENTS: Schema = {
    "securitySchemes": {"admin": {"type": "http", "scheme": "bearer", "description": "RELAY_ADMIN_TOKEN"}},
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
        "Ack": {
            "type": "object",
            "required": ["received", "event_id", "duplicate"],
            "properties": {
                "received": {"type": "boolean"},
                "event_id": {"type": "string"},
                "duplicate": {"type": "boolean"},
            },
        },
        "CallbackUrl": {
            "type": "object",
            "required": ["url", "provider", "tag"],
            "properties": {
                "url": {"type": "string"},
                "provider": {"type": "string"},
                "tag": {"type": ["string", "null"]},
            },
        },
        "Event": {
            "type": "object",
            "required": ["id", "type", "provider", "received_at", "raw"],
            "properties": {
                "id": {"type": "string"},
                "type": {"type": "string"},
                "provider": {"type": "string"},
                "task_id": {"type": ["string", "null"]},
                "status": {"type": ["string", "null"]},
                "progress": {"type": ["integer", "null"]},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "url": {"type": "string"},
                            "kind": {"type": "string"},
                            "asset": {
                                "type": "object",
                                "description": "the relay's copy (RELAY_ASSETS): a fresh link at each read",
                                "properties": {
                                    "url": {"type": "string"},
                                    "sha256": {"type": "string"},
                                    "bytes": {"type": "integer"},
                                    "content_type": {"type": "string"},
                                },
                            },
                            "asset_error": {"type": "string", "description": "why the copy failed for good"},
                        },
                    },
                },
                "outputs_truncated": {
                    "type": "boolean",
                    "description": "Present (true) when the body held more than 200 results: the first 200 are"
                    " outputs, raw has them all.",
                },
                "refs": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Result identifiers that are no URL, by the provider's field name"
                    " (MiniMax: file_id).",
                },
                "error": {"type": ["object", "null"]},
                "tag": {"type": ["string", "null"]},
                "source": {"type": "string", "enum": ["callback", "poll", "relay"]},
                "received_at": {"type": "string"},
                "assets": {
                    "type": "object",
                    "description": "present when the provider's outputs are copied (RELAY_ASSETS)",
                    "properties": {
                        "status": {"type": "string", "enum": ["pending", "complete", "incomplete"]},
                        "copied": {"type": "integer"},
                        "failed": {"type": "integer"},
                        "total": {"type": "integer"},
                    },
                },
                "raw": {},
            },
        },
        "EventPage": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {"data": {"type": "array", "items": EVENT}, "next_cursor": {"type": ["string", "null"]}},
        },
    },
}

SUB_ID = param("subscription_id", "path", {"type": "string"})
DELIVERY_ID = param("delivery_id", "path", {"type": "string"})
SUBSCRIPTION: Schema = {"$ref": "#/components/schemas/Subscription"}
DELIVERY: Schema = {"$ref": "#/components/schemas/Delivery"}
FILTER: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {name: {"type": "array", "items": {"type": "string"}} for name in ("providers", "types", "tags")},
}
SUBSCRIPTION_FIELDS: Schema = {
    "url": {"type": "string"},
    "description": {"type": "string"},
    "filter": FILTER,
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "wait_for_assets": {"type": "boolean", "description": "deliver once the event's files are copied (RELAY_ASSETS)"},
}
NOT_FOUND = ("not found", ERROR)
BAD = ("malformed request", ERROR)

PATHS.update(
    {
        "/v1/subscriptions": {
            "post": operation(
                "Register a subscriber URL; the answer holds its signing secret",
                {201: ("the subscription", SUBSCRIPTION), 400: BAD},
                body={
                    "application/json": {
                        "type": "object",
                        "required": ["url"],
                        "properties": SUBSCRIPTION_FIELDS,
                        "additionalProperties": False,
                    }
                },
                admin=True,
            ),
            "get": operation("All subscriptions", {200: ("the subscriptions", JSON_OBJECT)}, admin=True),
        },
        "/v1/subscriptions/{subscription_id}": {
            "get": operation(
                "One subscription", {200: ("it", SUBSCRIPTION), 404: NOT_FOUND}, parameters=[SUB_ID], admin=True
            ),
            "patch": operation(
                "Change url, description, filter, headers or enabled",
                {200: ("the subscription", SUBSCRIPTION), 400: BAD, 404: NOT_FOUND},
                parameters=[SUB_ID],
                body={
                    "application/json": {
                        "type": "object",
                        "properties": {**SUBSCRIPTION_FIELDS, "enabled": {"type": "boolean"}},
                        "additionalProperties": False,
                    }
                },
                admin=True,
            ),
            "delete": operation("Remove it", {204: ("removed", None), 404: NOT_FOUND}, parameters=[SUB_ID], admin=True),
        },
        "/v1/subscriptions/{subscription_id}/secret": {
            "get": operation(
                "Its secret(s)", {200: ("secrets", JSON_OBJECT), 404: NOT_FOUND}, parameters=[SUB_ID], admin=True
            )
        },
        "/v1/subscriptions/{subscription_id}/rotate-secret": {
            "post": operation(
                "Issue a new secret; the old one keeps signing for the overlap window",
                {200: ("secrets", JSON_OBJECT), 404: NOT_FOUND},
                parameters=[SUB_ID],
                admin=True,
            )
        },
        "/v1/subscriptions/{subscription_id}/recover": {
            "post": operation(
                "Send again its failed and dead deliveries created since a time",
                {200: ("what was requeued", JSON_OBJECT), 400: BAD, 404: NOT_FOUND},
                parameters=[SUB_ID, param("since", "query", {"type": "string"}, description="RFC 3339 or unix s")],
                admin=True,
            )
        },
        "/v1/deliveries": {
            "get": operation(
                "List deliveries, newest first",
                {200: ("a page of deliveries", JSON_OBJECT), 400: BAD},
                parameters=[
                    param("status", "query", {"type": "string", "enum": ["pending", "failed", "succeeded", "dead"]}),
                    param("subscription_id", "query", {"type": "string"}),
                    param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
                    param("cursor", "query", {"type": "string"}),
                ],
                admin=True,
            )
        },
        "/v1/deliveries/{delivery_id}": {
            "get": operation(
                "One delivery with every attempt",
                {200: ("it", DELIVERY), 404: NOT_FOUND},
                parameters=[DELIVERY_ID],
                admin=True,
            )
        },
        "/v1/deliveries/{delivery_id}/retry": {
            "post": operation(
                "Attempt it again now",
                {200: ("the delivery", DELIVERY), 404: NOT_FOUND},
                parameters=[DELIVERY_ID],
                admin=True,
            )
        },
        "/v1/events/{event_id}/assets/retry": {
            "post": operation(
                "Copy the event's files again where copying failed (RELAY_ASSETS)",
                {202: ("queued; the event's assets summary", JSON_OBJECT), 400: BAD, 404: NOT_FOUND},
                parameters=[param("event_id", "path", {"type": "string"})],
                admin=True,
            )
        },
        "/assets/{token}": {
            "get": operation(
                "A copy of an event's file, behind a signed expiring link (from the event's outputs[].asset.url)",
                {200: ("the file", None), 404: ("link not valid, expired, or the copy expired", ERROR)},
                parameters=[param("token", "path", {"type": "string"})],
            )
        },
        "/v1/events/{event_id}/replay": {
            "post": operation(
                "Deliver a stored event again, to all matching subscriptions or one, or into a tunnel channel",
                {200: ("the new deliveries", JSON_OBJECT), 400: BAD, 404: NOT_FOUND},
                parameters=[param("event_id", "path", {"type": "string"})],
                body={
                    "application/json": {
                        "type": "object",
                        "properties": {"subscription_id": {"type": "string"}, "channel": {"type": "string"}},
                    }
                },
                admin=True,
            )
        },
    }
)
CHANNEL = param("channel", "path", {"type": "string"}, description="the channel name (its write credential)")
READER = "Reading needs the channel's read secret or the admin token as `Authorization: Bearer`."
SSE: dict[int, tuple[str, Schema | None]] = {
    200: ("text/event-stream of the channel's events", None),
    401: ("no read secret or admin token", ERROR),
    404: NOT_FOUND,
    503: ("too many streams open (all channels, or this one)", ERROR),
}
PATHS.update(
    {
        "/v1/tunnels": {
            "post": operation(
                "Create a tunnel channel; the answer holds its URLs, signing secret and read secret (shown once)",
                {201: ("the channel", JSON_OBJECT), 400: BAD},
                body={
                    "application/json": {
                        "type": "object",
                        "properties": {"filter": FILTER, "mode": {"type": "string", "enum": ["event", "raw"]}},
                        "additionalProperties": False,
                    }
                },
                admin=True,
            ),
            "get": operation("All tunnel channels (no secrets)", {200: ("the channels", JSON_OBJECT)}, admin=True),
        },
        "/v1/tunnels/{channel}": {
            "get": operation(
                f"One channel, its acknowledged position and how many entries a client gave up on. {READER}",
                {200: ("the channel", JSON_OBJECT), 401: ("no read secret", ERROR), 404: NOT_FOUND},
                parameters=[CHANNEL],
            ),
            "delete": operation(
                "Remove a channel and its buffer",
                {204: ("removed", None), 404: NOT_FOUND},
                parameters=[CHANNEL],
                admin=True,
            ),
        },
        "/v1/tunnels/{channel}/stream": {
            "get": operation(
                "Server-Sent Events; resumes after Last-Event-ID, else starts at ?start=now|position|since:<unix ms>. "
                + READER,
                {**SSE, 400: BAD},
                parameters=[
                    CHANNEL,
                    param("Last-Event-ID", "header", {"type": "string"}),
                    param("start", "query", {"type": "string"}),
                ],
            )
        },
        "/v1/tunnels/{channel}/position": {
            "post": operation(
                "Move the channel's position to an entry the local server acknowledged; record given-up entries. "
                + READER,
                {200: ("the stored position", JSON_OBJECT), 400: BAD, 401: ("no read secret", ERROR), 404: NOT_FOUND},
                parameters=[CHANNEL],
                body={
                    "application/json": {
                        "type": "object",
                        "properties": {
                            "position": {"type": "string"},
                            "n": {"type": "integer"},
                            "failed": {"type": "array", "items": {"type": "array"}},
                        },
                    }
                },
            )
        },
        "/v1/tunnels/{channel}/resend": {
            "post": operation(
                f"Append the entries a client gave up on to the channel again. {READER}",
                {200: ("how many were resent", JSON_OBJECT), 401: ("no read secret", ERROR), 404: NOT_FOUND},
                parameters=[CHANNEL],
            )
        },
        "/t/{channel}": {
            "get": operation(
                "smee.io-compatible event stream (Accept: text/event-stream); the read secret as ?key= or bearer",
                {**SSE, 406: ("not an event-stream request", ERROR)},
                parameters=[CHANNEL, param("key", "query", {"type": "string"})],
            ),
            "post": operation(
                "Put any webhook into the channel, as smee.io does (rate limited and size capped per channel)",
                {
                    200: ("buffered", JSON_OBJECT),
                    404: NOT_FOUND,
                    413: ("body over the limit", ERROR),
                    429: ("too many posts to this channel", ERROR),
                },
                parameters=[CHANNEL],
                body={"application/octet-stream": {"type": "string", "format": "binary"}},
            ),
        },
    }
)

COMPONENTS["schemas"]["Subscription"] = {
    "type": "object",
    "required": ["id", "url"],
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string"},
        "enabled": {"type": "boolean"},
        **SUBSCRIPTION_FIELDS,
    },
}
COMPONENTS["schemas"]["Delivery"] = {
    "type": "object",
    "required": ["id", "status"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string"},
        "event_id": {"type": "string"},
        "subscription_id": {"type": "string"},
    },
}


def html(
    summary: str, statuses: dict[int, str], *, parameters: Sequence[Schema] = (), form: Schema | None = None
) -> Schema:
    """A dashboard operation: HTML for people, behind the dashboard's session cookie (not the bearer token)."""
    op: Schema = {
        "summary": summary,
        "parameters": list(parameters),
        "responses": {
            str(status): {"description": text, **({} if 300 <= status < 400 else {"content": {"text/html": {}}})}
            for status, text in sorted(statuses.items())
        },
        "security": [{"dashboard": []}],
    }
    if form is not None:
        op["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}}
    return op


CSRF_FORM: Schema = {"type": "object", "properties": {"csrf": {"type": "string"}}}
PAGE = {200: "the page", 303: "no session: to the login form"}
ACTION = {303: "done: back to the page", 400: "unreadable form", 403: "no session or a bad CSRF token", 404: "no such"}
EVENT_ID = param("event_id", "path", {"type": "string"})
PATHS.update(
    {
        "/dashboard": {"get": html("Events, live, with filters and the hour's charts", PAGE, parameters=[
            param(name, "query", {"type": "string"}) for name in ("provider", "type", "task_id", "tag")])},
        "/dashboard/login": {
            "get": html("The login form", {200: "the form", 303: "already logged in"},
                        parameters=[param("next", "query", {"type": "string"})]),
            "post": html(
                "Log in with the admin token: sets the session cookie",
                {303: "logged in", 401: "wrong token"},
                form={"type": "object", "properties": {"token": {"type": "string"}, "next": {"type": "string"}}},
            ),
        },
        "/dashboard/logout": {"post": html("Log out", ACTION, form=CSRF_FORM)},
        "/dashboard/events/stream": {
            "get": {
                **html("Server-Sent Events: the events list's rows and charts when they change", {401: "no session"}),
                "responses": {"200": {"description": "an event stream", "content": {"text/event-stream": {}}},
                              "401": {"description": "no session", "content": {"text/plain": {}}}},
            }
        },
        "/dashboard/events/{event_id}": {"get": html("One event, its raw body, deliveries and attempts",
                                                     {**PAGE, 404: "no such event"}, parameters=[EVENT_ID])},
        "/dashboard/events/{event_id}/deliveries": {"get": html("The event page's deliveries section", PAGE,
                                                                parameters=[EVENT_ID])},
        "/dashboard/events/{event_id}/replay": {"post": html(
            "Replay the event", ACTION, parameters=[EVENT_ID],
            form={"type": "object", "properties": {"csrf": {"type": "string"}, "subscription_id": {"type": "string"}}},
        )},
        "/dashboard/events/{event_id}/assets/retry": {"post": html(
            "Copy the event's files again where copying failed", ACTION, parameters=[EVENT_ID],
            form={"type": "object", "properties": {"csrf": {"type": "string"}}},
        )},
        "/dashboard/deliveries/{delivery_id}/retry": {"post": html("Retry a delivery now", ACTION,
                                                                   parameters=[DELIVERY_ID], form=CSRF_FORM)},
        "/dashboard/subscriptions": {"get": html("Subscriptions and their health", PAGE)},
        "/dashboard/subscriptions/{subscription_id}/enabled": {"post": html(
            "Enable or disable a subscription", ACTION, parameters=[SUB_ID],
            form={"type": "object", "properties": {"csrf": {"type": "string"}, "enabled": {"enum": ["true", "false"]}}},
        )},
        "/dashboard/subscriptions/{subscription_id}/rotate-secret": {"post": html(
            "Rotate its secret; the answer shows the new one", {**ACTION, 200: "the new secret"},
            parameters=[SUB_ID], form=CSRF_FORM)},
        "/dashboard/callback-urls": {
            "get": html("The callback URL form", PAGE),
            "post": html(
                "Create a callback URL", {**ACTION, 200: "the URL, with a copy button"},
                form={"type": "object", "properties": {"csrf": {"type": "string"}, "provider": {"type": "string"},
                                                       "tag": {"type": "string"}}},
            ),
        },
        "/dashboard/tunnels": {"get": html("Tunnel channels and their connected clients", PAGE)},
        "/dashboard/tasks": {"get": html("Tracked tasks, polling and overdue first", PAGE)},
        "/dashboard/tasks/{provider}/{task_id}": {"get": html("One task's timeline", {**PAGE, 404: "no such task"},
            parameters=[PROVIDER, param("task_id", "path", {"type": "string"})])},
        "/dashboard/static/{name}": {"get": {
            **html("The dashboard's stylesheet, script and icon", {404: "no such file"},
                   parameters=[param("name", "path", {"type": "string"})]),
            "responses": {"200": {"description": "the file"}, "404": {"description": "no such file"}},
            "security": [],
        }},
    }
)  # fmt: skip
COMPONENTS["securitySchemes"]["dashboard"] = {
    "type": "apiKey",
    "in": "cookie",
    "name": "relay_dashboard",
    "description": "the session cookie set by POST /dashboard/login",
}


# -- tracked tasks (relay.tasks) --
TASK: Schema = {"$ref": "#/components/schemas/Task"}
COMPONENTS["schemas"]["Task"] = {
    "type": "object",
    "required": ["provider", "task_id", "status", "overdue", "polls"],
    "properties": {
        "provider": {"type": "string"},
        "task_id": {"type": "string"},
        "service": {"type": ["string", "null"]},
        "tag": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["waiting", "polling", "overdue", "succeeded", "failed", "timed_out"]},
        "overdue": {"type": "boolean"},
        "origin": {"type": "string", "enum": ["registered", "callback"]},
        "polls": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
        "terminal_event_id": {"type": ["string", "null"]},
        "notify_url": {"type": ["string", "null"]},
        "notify_secret": {"type": "string", "description": "only in the answer to a registration with notify_url"},
    },
}
TASK_BODY: Schema = {
    "type": "object",
    "required": ["provider", "task_id"],
    "properties": {
        "provider": {"type": "string"},
        "task_id": {"type": "string"},
        "service": {"type": "string", "description": "the provider's API family (Kie: market, mj, suno...)"},
        "tag": {"type": "string"},
        "notify_url": {"type": "string", "description": "receives the terminal event once, signed"},
        "deadline_s": {"type": "number", "description": "poll when no result came by then"},
        "horizon_s": {"type": "number", "description": "give up (task.timed_out) after this"},
    },
}
PATHS.update(
    {
        "/v1/tasks": {
            "post": operation(
                "Track a task: polled when its result is late; notify_url gets its terminal event once",
                {201: ("registered; notify_secret signs its notification", TASK), 200: ("updated", TASK), 400: BAD,
                 404: ("unknown provider", ERROR)},
                body={"application/json": TASK_BODY},
                admin=True,
            ),
            "get": operation(
                "Tracked tasks, newest first",
                {200: ("a page of tasks", {"type": "object", "properties": {
                    "data": {"type": "array", "items": TASK}, "next_cursor": {"type": ["string", "null"]}}}),
                 400: BAD},
                parameters=[
                    param("status", "query", {"type": "string", "enum": ["overdue", "waiting", "polling",
                          "succeeded", "failed", "timed_out"]}),
                    param("limit", "query", {"type": "integer"}),
                    param("cursor", "query", {"type": "string"}),
                ],
                admin=True,
            ),
        },
        "/v1/tasks/{provider}/{task_id}": {
            "get": operation(
                "A task (null when not tracked) and its events in arrival order; wait=N answers once it is closed",
                {200: ("the task and its events", {"type": "object", "properties": {
                    "task": {"oneOf": [TASK, {"type": "null"}]}, "data": {"type": "array", "items": EVENT}}}),
                 400: BAD, 404: ("neither a tracked task nor events", ERROR)},
                parameters=[PROVIDER, param("task_id", "path", {"type": "string"}),
                            param("wait", "query", {"type": "integer"}, description="seconds, up to 60")],
                admin=True,
            )
        },
    }
)  # fmt: skip


def openapi_document(providers: Sequence[str]) -> Schema:
    document: Schema = {
        "openapi": "3.1.0",
        "info": {"title": "relay", "version": __version__, "description": f"Providers: {', '.join(providers)}."},
        "paths": PATHS,
        "components": COMPONENTS,
    }
    return document


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document(list(request.state.providers)))
