"""What the tunnels page shows of a channel (built by :func:`relay.dashboard.views.tunnels_context`)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
