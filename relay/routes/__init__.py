from starlette.routing import Route

from relay import openapi
from relay.routes import events, health, inbound

ROUTES = [
    Route("/hooks/{provider}/{token}", inbound.receive_callback, methods=["POST"]),
    Route("/v1/callback-urls", events.create_callback_url, methods=["POST"]),
    Route("/v1/events", events.list_events, methods=["GET"]),
    Route("/v1/events/{event_id}", events.get_event, methods=["GET"]),
    Route("/v1/tasks/{provider}/{task_id:path}", events.task_events, methods=["GET"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
]
