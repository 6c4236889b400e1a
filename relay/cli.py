"""The ``relay`` command line."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from relay import __version__
from relay.admin_client import SERVER_OPTION, call
from relay.cli_settings import CliSettings, SettingsError
from relay.events_cli import events
from relay.names import PROVIDER_NAMES
from relay.simulate.cli import simulate
from relay.tasks.cli import tasks
from relay.tunnel.cli import tunnel

if TYPE_CHECKING:
    from relay.config import Settings

# Every command imports what it runs on (uvicorn, Redis, the app, the stores) inside its function: `relay tunnel`
# and `relay --help` start without the web stack (tests/tunnel/test_startup.py).

SERVE_HELP = "Run the relay: HTTP app (and, without REDIS_URL, an embedded Redis in RELAY_DATA_DIR)."
URL_HELP = "Print a callback URL to hand to PROVIDER (a signed token binds the provider and the tag)."


def cli_settings(environ: Mapping[str, str]) -> CliSettings:
    """What the commands read from the environment; a bad value is a one-line usage error, never a traceback."""
    try:
        return CliSettings.from_environ(environ)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def local_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment completed for local use: secrets missing from it come from (or go to) the data dir."""
    from relay.embedded import local_secrets

    completed = dict(environ)
    local = cli_settings(environ)
    if not local.redis_url:
        for name, value in local_secrets(local.data_dir).items():
            completed.setdefault(name, value)
    return completed


def configure_logging(local: CliSettings) -> dict[str, Any]:
    """The processes' logging (``relay serve`` and ``relay worker``); returns the configuration for uvicorn."""
    import logging.config

    from relay.logs import logging_config

    log_config = logging_config(local.log_level, local.log_format)
    logging.config.dictConfig(log_config)
    return log_config


def load_settings(environ: Mapping[str, str]) -> Settings:
    from relay.config import Settings

    try:
        return Settings.from_environ(environ)
    except (SettingsError, ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from exc


@contextmanager
def redis_for(environ: dict[str, str], supervise: bool = False) -> Iterator[bool]:
    """Start the embedded Redis when no REDIS_URL is given, setting REDIS_URL in ``environ``; yields whether it did.

    ``supervise`` (``relay serve`` only: one supervisor per data dir) restarts it on the same data if it dies.
    """
    from relay.embedded import EmbeddedRedis

    local = cli_settings(environ)
    if local.redis_url:
        yield False
        return
    with EmbeddedRedis(local.data_dir, startup_wait_s=local.redis_startup_wait_s, supervise=supervise) as embedded:
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
    local = cli_settings(environ)
    log_config = configure_logging(local)
    port = port if port is not None else local.port
    workers = workers if workers is not None else local.web_concurrency
    environ.setdefault("RELAY_PUBLIC_URL", f"http://{host}:{port}")
    with redis_for(environ, supervise=True) as embedded:
        settings = load_settings(environ)
        for line in banner(settings, embedded, port):
            if environ.get("RELAY_LOG_FORMAT") == "json":
                logging.getLogger("relay.cli").info(line)  # one JSON object per line, the banner too
            else:
                click.echo(f"relay: {line}", err=True)
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
            # The app writes the access lines itself, leaving out those that say nothing (relay.access).
            access_log=False,
            # uvicorn applies it in every worker process too.
            log_config=log_config,
            **options,
        )


def banner(settings: Settings, embedded: bool, port: int) -> list[str]:
    """What a newcomer needs at start: where the data is, the dashboard, the token as a shell line, a first URL."""
    lines = [f"embedded Redis (AOF) and secrets in {settings.data_dir.resolve()}"] if embedded else []
    lines.append(f"dashboard at {settings.public_url}/dashboard (log in with the admin token)")
    if embedded:
        # The shell line the CLI's admin commands (and curl examples) want; generated once, kept in the data dir.
        lines.append(f"admin token: export RELAY_ADMIN_TOKEN={settings.admin_token}")
    url_command = "relay url kie" + ("" if port == 8000 else f" --port {port}")
    lines.append(f"callbacks at {settings.public_url}/hooks/<provider>/<token>; get one with `{url_command}`")
    return lines


def run_until_signalled(app: Any, host: str, port: int, **options: Any) -> None:
    """Run uvicorn until SIGTERM/SIGINT, then return so the caller's cleanup (the embedded Redis) runs."""
    # uvicorn re-raises the signal it caught once it has shut down; with no-op handlers installed here, that
    # re-raise returns instead of killing the process before the embedded Redis is stopped.
    import uvicorn

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
@click.option(
    "--server", default=None, help="Ask this running relay for the URL (admin API) instead of signing it here."
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Point the URL at the local relay on this port  [default: $RELAY_PUBLIC_URL, else port $PORT or 8000]",
)
def url(provider: str, tag: str | None, server: str | None, port: int | None) -> None:
    from relay.actions import callback_url
    from relay.tokens import CallbackTokens

    if server is not None:
        click.echo(call(server, "POST", "/v1/callback-urls", json={"provider": provider, "tag": tag})["url"])
        return
    environ = dict(os.environ)
    local = cli_settings(environ)
    if not local.secret_key:
        # Never generate a key here: a URL signed with a key the running relay does not hold is refused (401).
        data_dir = local.data_dir.resolve()
        key_file = data_dir / "secret_key"
        if not key_file.is_file():
            raise click.ClickException(
                f"no secret key to sign with: RELAY_SECRET_KEY is not set and there is no {key_file} (the data dir "
                "`relay serve` makes where it runs). Run this where `relay serve` runs, set RELAY_DATA_DIR to its data "
                f"dir, or ask the running relay: relay url {provider} --server http://127.0.0.1:{port or local.port}"
            )
        environ["RELAY_SECRET_KEY"] = key_file.read_text().strip()
        click.echo(f"relay url: signed with the secret key in {data_dir}", err=True)
    if port is not None or not local.public_url:
        environ["RELAY_PUBLIC_URL"] = f"http://127.0.0.1:{port if port is not None else local.port}"
    # A URL needs only the secret keys and the public URL: no Redis, no admin token.
    environ.setdefault("REDIS_URL", "unused://")
    environ.setdefault("RELAY_ADMIN_TOKEN", "unused")
    settings = load_settings(environ)
    token = CallbackTokens([str(key) for key in settings.secret_keys]).issue(provider, tag)
    click.echo(callback_url(settings.public_url, provider, token))


def main() -> None:
    cli()


WORKER_HELP = "Run a delivery worker (no HTTP): events -> signed POSTs to subscribers. Any number can run."


@cli.command(help=WORKER_HELP)
def worker() -> None:
    import asyncio

    from relay import eventloop, heap
    from relay.delivery.targets import TargetGuard
    from relay.delivery.worker import delivery_worker
    from relay.store.connect import open_redis, wait_for_redis

    environ = local_environ(os.environ)
    local = cli_settings(environ)
    configure_logging(local)

    async def run(settings: Settings) -> None:
        client = open_redis(settings)
        guard = TargetGuard(allow_private=settings.allow_private_targets)
        try:
            await wait_for_redis(client, settings.redis_startup_wait_s)
            async with delivery_worker(client, settings, guard) as worker:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, worker.stop)
                heap.settle()
                await worker.run()
        finally:
            await client.aclose(close_connection_pool=True)

    with redis_for(environ):
        settings = load_settings(environ)
        # The worker's time goes to socket writes and callbacks: about a third less CPU per delivery on uvloop.
        eventloop.run(run(settings))


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


@cli.command(
    help="Deliver a stored event again to its subscribers (or to one, with --subscription), or put it into a "
    "tunnel channel (--channel) for `relay tunnel` to forward."
)
@click.argument("event_id")
@click.option("--subscription", "subscription_id", default=None, help="Only to this subscription.")
@click.option("--channel", default=None, help="Into this tunnel channel's buffer instead of to subscriptions.")
@SERVER_OPTION
def replay(event_id: str, subscription_id: str | None, channel: str | None, server: str | None) -> None:
    if channel is not None:
        if subscription_id is not None:
            raise click.UsageError("--subscription and --channel send to different places: pass one")
        result = call(server, "POST", f"/v1/events/{event_id}/replay", json={"channel": channel})
        click.echo(f"{event_id} -> tunnel channel, entry {result['entry_id']}")
        return
    body = {"subscription_id": subscription_id} if subscription_id else {}
    result = call(server, "POST", f"/v1/events/{event_id}/replay", json=body)
    for delivery in result["deliveries"]:
        click.echo(f"{delivery['id']} -> {delivery['subscription_id']} {delivery['status']}")
    if not result["deliveries"]:
        click.echo("no matching subscription")


cli.add_command(events)
cli.add_command(simulate)
cli.add_command(tasks)
cli.add_command(tunnel)
