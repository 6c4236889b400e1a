"""The command line's client of a running relay's admin API (``relay subscriptions``, ``replay``, ``events``...).

The admin token comes from ``RELAY_ADMIN_TOKEN`` or the data dir ``relay serve`` wrote it to; the server from
``--server``, ``RELAY_PUBLIC_URL`` or the local default. Failures become one-line :class:`click.ClickException`
messages that say which server and which token were used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from relay.cli_settings import CliSettings, SettingsError

if TYPE_CHECKING:
    import httpx

SERVER_OPTION = click.option(
    "--server", default=None, help="The running relay  [default: $RELAY_PUBLIC_URL or http://127.0.0.1:$PORT]"
)


def cli_settings() -> CliSettings:
    try:
        return CliSettings.from_environ(os.environ)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def find_admin_token() -> tuple[str, str] | None:
    """The admin token for the running relay and where it came from (RELAY_ADMIN_TOKEN or the data dir), if any."""
    local = cli_settings()
    if local.admin_token:
        return local.admin_token, "RELAY_ADMIN_TOKEN"
    path = local.data_dir.resolve() / "admin_token"
    if not path.exists():
        return None
    return path.read_text().strip(), str(path)


def admin_token() -> tuple[str, str]:
    """:func:`find_admin_token`, or a usage error saying how to give one."""
    found = find_admin_token()
    if found is None:
        path = cli_settings().data_dir.resolve() / "admin_token"
        raise click.UsageError(f"set RELAY_ADMIN_TOKEN (no {path} from `relay serve` here)")
    return found


def server_url(server: str | None) -> str:
    local = cli_settings()
    return server or local.public_url or f"http://127.0.0.1:{local.port}"


def describe(exc: Exception) -> str:
    """One line about a failed request: the error's kind, and its message when it has one (ReadTimeout has none)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unreachable(base: object, exc: Exception) -> str:
    return f"cannot reach the relay at {base}: {describe(exc)}"


def relay_error(response: httpx.Response) -> str:
    """What a relay's error answer says: its JSON ``error.message``, else the start of its body."""
    try:
        message: str = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return message


def admin_client(server: str | None) -> httpx.Client:
    import httpx

    token, _ = admin_token()
    return httpx.Client(base_url=server_url(server), headers={"Authorization": f"Bearer {token}"}, timeout=10)


def call(server: str | None, method: str, path: str, **kwargs: Any) -> Any:
    """One admin API request; its JSON answer, or a ClickException saying what went wrong."""
    import httpx

    with admin_client(server) as client:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(unreachable(client.base_url, exc)) from exc
    if response.status_code >= 400:
        message = relay_error(response)
        if response.status_code == 401:
            message += f" (the relay at {client.base_url} refused the admin token from {admin_token()[1]})"
        raise click.ClickException(f"{response.status_code}: {message}")
    return response.json() if response.content else None
