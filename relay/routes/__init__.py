from starlette.routing import Route

from relay.routes import events, health, inbound, tunnels

ROUTES = [
    Route("/hooks/{provider}/{token}", inbound.receive_callback, methods=["POST"]),
    Route("/v1/callback-urls", events.create_callback_url, methods=["POST"]),
    Route("/v1/events", events.list_events, methods=["GET"]),
    Route("/v1/events/{event_id}", events.get_event, methods=["GET"]),
    Route("/v1/tasks/{provider}/{task_id:path}", events.task_events, methods=["GET"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/v1/tunnels", tunnels.create_tunnel, methods=["POST"]),
    Route("/v1/tunnels", tunnels.list_tunnels, methods=["GET"]),
    Route("/v1/tunnels/{channel}", tunnels.delete_tunnel, methods=["DELETE"]),
    Route("/v1/tunnels/{channel}/stream", tunnels.stream, methods=["GET"]),
    Route("/t/{channel}", tunnels.smee_stream, methods=["GET"]),
    Route("/t/{channel}", tunnels.smee_post, methods=["POST"]),
]
