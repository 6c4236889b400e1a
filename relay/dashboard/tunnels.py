"""What the tunnels page needs from the tunnel feature, and nothing more.

The page reads ``request.state.tunnels`` when the app's lifespan provides it, and calls its
``dashboard_tunnels()``; without one (a build without tunnels) the page shows an empty state. So wiring the
tunnel feature in is one method on the object the lifespan yields as ``tunnels`` (see :class:`TunnelSource`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from starlette.requests import Request

from relay.events import rfc3339


@dataclass(frozen=True, slots=True)
class TunnelInfo:
    """One tunnel channel as the page shows it.

    :param channel: the channel name. It is the stream's credential: the page shows its first characters only.
    :param clients: clients connected to its stream now (on this process, or all of them if known).
    """

    channel: str
    mode: str
    created_ms: int
    clients: int
    filter: dict[str, list[str]] = field(default_factory=dict)
    buffered: int | None = None
    last_event_ms: int | None = None

    @property
    def short_name(self) -> str:
        return self.channel[:6] + "…"

    @property
    def created_at(self) -> str:
        return rfc3339(self.created_ms / 1000)


@runtime_checkable
class TunnelSource(Protocol):
    async def dashboard_tunnels(self) -> list[TunnelInfo]:
        """Every channel with its connected clients, oldest first."""
        ...


async def list_tunnels(request: Request) -> list[TunnelInfo] | None:
    """The tunnels, or None when this app has no tunnel feature."""
    source = getattr(request.state, "tunnels", None)
    if not isinstance(source, TunnelSource):
        return None
    return await source.dashboard_tunnels()
