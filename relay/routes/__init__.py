from starlette.routing import Route

from relay import metrics, openapi
from relay.dashboard import routes as dashboard_routes
from relay.dashboard import tasks as dashboard_tasks
from relay.routes import assets, deliveries, events, health, inbound, subscriptions, tasks, tunnels

ROUTES = [
    Route("/hooks/{provider}/{token}", inbound.CallbackApp(), methods=["POST"], name="receive_callback"),
    Route("/v1/callback-urls", events.create_callback_url, methods=["POST"]),
    Route("/v1/events", events.list_events, methods=["GET"]),
    Route("/v1/events/{event_id}", events.get_event, methods=["GET"]),
    Route("/v1/tasks", tasks.create_task, methods=["POST"]),
    Route("/v1/tasks", tasks.list_tasks, methods=["GET"]),
    Route("/v1/tasks/{provider}/{task_id:path}", tasks.get_task, methods=["GET"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
    Route("/v1/subscriptions", subscriptions.create_subscription, methods=["POST"]),
    Route("/v1/subscriptions", subscriptions.list_subscriptions, methods=["GET"]),
    Route("/v1/subscriptions/{subscription_id}", subscriptions.get_subscription, methods=["GET"]),
    Route("/v1/subscriptions/{subscription_id}", subscriptions.update_subscription, methods=["PATCH"]),
    Route("/v1/subscriptions/{subscription_id}", subscriptions.delete_subscription, methods=["DELETE"]),
    Route("/v1/subscriptions/{subscription_id}/secret", subscriptions.get_secret, methods=["GET"]),
    Route("/v1/subscriptions/{subscription_id}/rotate-secret", subscriptions.rotate_secret, methods=["POST"]),
    Route("/v1/subscriptions/{subscription_id}/recover", subscriptions.recover, methods=["POST"]),
    Route("/v1/deliveries", deliveries.list_deliveries, methods=["GET"]),
    Route("/v1/deliveries/{delivery_id}", deliveries.get_delivery, methods=["GET"]),
    Route("/v1/deliveries/{delivery_id}/retry", deliveries.retry_delivery, methods=["POST"]),
    Route("/v1/events/{event_id}/replay", deliveries.replay_event, methods=["POST"]),
    Route("/v1/tunnels", tunnels.create_tunnel, methods=["POST"]),
    Route("/v1/tunnels", tunnels.list_tunnels, methods=["GET"]),
    Route("/v1/tunnels/{channel}", tunnels.get_tunnel, methods=["GET"]),
    Route("/v1/tunnels/{channel}", tunnels.delete_tunnel, methods=["DELETE"]),
    Route("/v1/tunnels/{channel}/stream", tunnels.stream, methods=["GET"]),
    Route("/v1/tunnels/{channel}/position", tunnels.position, methods=["POST"]),
    Route("/v1/tunnels/{channel}/resend", tunnels.resend, methods=["POST"]),
    Route("/t/{channel}", tunnels.smee_stream, methods=["GET"]),
    Route("/t/{channel}", tunnels.smee_post, methods=["POST"]),
    Route("/metrics", metrics.metrics, methods=["GET"]),
    Route("/assets/{token}", assets.serve_asset, methods=["GET"]),
    Route("/v1/events/{event_id}/assets/retry", assets.retry_assets, methods=["POST"]),
]
# The dashboard's pages (HTML, behind its own login); documented in relay/openapi.json like every route.
ROUTES += dashboard_routes.ROUTES
ROUTES += dashboard_tasks.ROUTES
