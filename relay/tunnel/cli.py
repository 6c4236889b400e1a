"""``relay tunnel``: the command line of the tunnel client (registered in :mod:`relay.cli`)."""

from __future__ import annotations

import re
import ssl
import time
from urllib.parse import urlsplit

import click

from relay import eventloop
from relay.admin_client import cli_settings, find_admin_token, server_url
from relay.names import PROVIDER_NAMES

TUNNEL_HELP = (
    "Bring events to localhost: stream a tunnel channel from the relay and replay each event at --forward-to, "
    "byte-exact. Running the same command again resumes where the last run stopped (same channel, same whsec_ "
    "secret, nothing lost in between)."
)
DURATION = re.compile(r"(\d+)\s*([smhd])")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def http_url(value: str, what: str) -> str:
    """``value`` if it is an absolute http(s) URL; a one-line usage error naming it otherwise."""
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise click.BadParameter(
            f"{value!r} is not an http(s) URL (like http://localhost:3000/webhooks)", param_hint=what
        )
    return value


def since_ms(value: str, now_s: float) -> int:
    match = DURATION.fullmatch(value.strip())
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 15m, 1h or 2d", param_hint="--since")
    return int((now_s - int(match[1]) * UNIT_S[match[2]]) * 1000)


def verification(server: str) -> ssl.SSLContext | bool:
    """How the client checks the relay's certificate: httpx's default (certifi's CA bundle) for an https relay.

    An http relay needs no certificate, and loading the bundle (what ``httpx.AsyncClient()`` does first) took a
    quarter of the start-up; every request goes to this one origin (redirects are not followed), and a context
    without CA certificates refuses any certificate, should one ever be presented.
    """
    return True if urlsplit(server).scheme == "https" else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@click.command("tunnel", help=TUNNEL_HELP)
@click.option(
    "--forward-to", required=True, help="Local URL that receives every event, e.g. http://localhost:3000/hooks."
)
@click.option("--server", default=None, help="The relay's URL  [default: $RELAY_PUBLIC_URL or http://127.0.0.1:$PORT]")
@click.option("--channel", default=None, help="Stream this existing channel instead of the one saved for this command.")
@click.option(
    "--key", "read_secret", default=None, help="The read secret of --channel (not needed with the admin token)."
)
@click.option(
    "--provider", "providers", multiple=True, type=click.Choice(PROVIDER_NAMES), help="Only this provider (repeatable)."
)
@click.option("--raw", is_flag=True, help="Forward the provider's original requests instead of signed events.")
@click.option(
    "--since",
    default=None,
    help="Start with what arrived this long ago (90s, 15m, 1h, 2d), not where the last run stopped.",
)
@click.option("--from-now", is_flag=True, help="Skip what is buffered: forward only events from now on.")
@click.option("--resend-failed", is_flag=True, help="First send again the events earlier runs gave up on.")
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=16, show_default=True, help="Local requests in flight."
)
def tunnel(
    forward_to: str,
    server: str | None,
    channel: str | None,
    read_secret: str | None,
    providers: tuple[str, ...],
    raw: bool,
    since: str | None,
    from_now: bool,
    resend_failed: bool,
    concurrency: int,
) -> None:
    import httpx

    from relay.tunnel.client import TunnelClient, TunnelError, TunnelOptions
    from relay.tunnel.output import Lines
    from relay.tunnel.state import TunnelState, default_path

    local = cli_settings()
    server = http_url(server_url(server), "--server")
    http_url(forward_to, "--forward-to")
    if since is not None and from_now:
        raise click.UsageError("--since and --from-now choose different starts: pass one")
    start = "now" if from_now else f"since:{since_ms(since, time.time())}" if since is not None else "position"
    options = TunnelOptions(
        server=server,
        forward_to=forward_to,
        admin_token=token[0] if (token := find_admin_token()) else None,
        channel=channel,
        read_secret=read_secret,
        providers=providers,
        raw=raw,
        start=start,
        resend_failed=resend_failed,
        concurrency=concurrency,
    )
    state = TunnelState(default_path(local.config_home))
    client: TunnelClient | None = None

    lines = Lines(click.echo)

    async def run() -> None:
        nonlocal client
        try:
            async with httpx.AsyncClient(follow_redirects=False, verify=verification(server)) as http:
                client = TunnelClient(http, options, state=state, echo=lines)
                await client.run(all_providers=tuple(PROVIDER_NAMES))
        finally:
            lines.flush()

    try:
        # Ctrl-C or SIGTERM: the client's cleanup runs (its position is saved), then a clean exit.
        eventloop.run(eventloop.until_stopped(run()))
    except KeyboardInterrupt:  # a second Ctrl-C during that cleanup
        pass
    except TunnelError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if client is not None and client.ready:
            click.echo(f"relay tunnel: stopped after forwarding {client.forwarded} events", err=True)
