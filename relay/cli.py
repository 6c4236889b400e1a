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
import uvicorn

from relay import __version__
from relay.config import Settings, SettingsError
from relay.embedded import EmbeddedRedis, local_secrets
from relay.logs import logging_config
from relay.providers import PROVIDER_NAMES
from relay.routes.events import callback_url
from relay.tokens import CallbackTokens

SERVE_HELP = "Run the relay: HTTP app (and, without REDIS_URL, an embedded Redis in RELAY_DATA_DIR)."
TUNNEL_HELP = (
    "Bring events to localhost: stream a tunnel channel from the relay and replay each event at --forward-to, "
    "byte-exact, resuming after disconnects."
)
URL_HELP = "Print a callback URL to hand to PROVIDER (a signed token binds the provider and the tag)."


def data_dir_of(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("RELAY_DATA_DIR", ".relay"))


def local_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment completed for local use: secrets missing from it come from (or go to) the data dir."""
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
def serve(host: str, port: int | None) -> None:
    from relay.app import create_app

    environ = local_environ(os.environ)
    level = environ.get("RELAY_LOG_LEVEL", "info")
    logging.config.dictConfig(logging_config(level))
    port = port if port is not None else int(environ.get("PORT", "8000"))
    environ.setdefault("RELAY_PUBLIC_URL", f"http://{host}:{port}")
    with redis_for(environ) as embedded:
        settings = load_settings(environ)
        if embedded:
            click.echo(f"relay: embedded Redis (AOF) in {settings.data_dir.resolve()}", err=True)
            click.echo(f"relay: admin token {settings.admin_token}", err=True)
        click.echo(f"relay: callbacks at {settings.public_url}/hooks/<provider>/<token>; `relay url kie`", err=True)
        run_until_signalled(create_app(settings), host=host, port=port)


def run_until_signalled(app: Any, host: str, port: int) -> None:
    """Run uvicorn until SIGTERM/SIGINT, then return so the caller's cleanup (the embedded Redis) runs."""
    # uvicorn re-raises the signal it caught once it has shut down; with no-op handlers installed here, that
    # re-raise returns instead of killing the process before the embedded Redis is stopped.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command(help=URL_HELP)
@click.argument("provider", type=click.Choice(PROVIDER_NAMES))
@click.option("--tag", default=None, help="A label carried by every event of this URL (an order id, a user...).")
def url(provider: str, tag: str | None) -> None:
    environ = local_environ(os.environ)
    # A URL needs only the secret keys and the public URL: no Redis, no admin token.
    environ.setdefault("REDIS_URL", "unused://")
    environ.setdefault("RELAY_ADMIN_TOKEN", "unused")
    settings = load_settings(environ)
    token = CallbackTokens([str(key) for key in settings.secret_keys]).issue(provider, tag)
    click.echo(callback_url(settings.public_url, provider, token))


@cli.command(help=TUNNEL_HELP)
@click.option(
    "--forward-to", required=True, help="Local URL that receives every event, e.g. http://localhost:3000/hooks."
)
@click.option("--server", default=None, help="The relay's URL  [default: $RELAY_PUBLIC_URL or http://127.0.0.1:8000]")
@click.option("--channel", default=None, help="Stream this existing channel instead of creating one.")
@click.option(
    "--provider", "providers", multiple=True, type=click.Choice(PROVIDER_NAMES), help="Only this provider (repeatable)."
)
@click.option("--raw", is_flag=True, help="Forward the provider's original requests instead of signed events.")
def tunnel(forward_to: str, server: str | None, channel: str | None, providers: tuple[str, ...], raw: bool) -> None:
    import asyncio

    import httpx

    from relay.tunnel.client import TunnelClient, TunnelError, TunnelOptions

    environ = os.environ
    token = environ.get("RELAY_ADMIN_TOKEN") or None
    token_file = data_dir_of(environ) / "admin_token"
    if token is None and token_file.exists():
        token = token_file.read_text().strip()
    options = TunnelOptions(
        server=server or environ.get("RELAY_PUBLIC_URL") or "http://127.0.0.1:8000",
        forward_to=forward_to,
        admin_token=token,
        channel=channel,
        providers=providers,
        raw=raw,
    )

    async def run() -> None:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            client = TunnelClient(http, options, echo=lambda line: click.echo(line))
            try:
                await client.run(all_providers=tuple(PROVIDER_NAMES))
            finally:
                click.echo(f"relay tunnel: stopped after forwarding {client.forwarded} events", err=True)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except TunnelError as exc:
        raise click.ClickException(str(exc)) from exc


def main() -> None:
    cli()
