"""Redis Cluster: ``REDIS_URL=redis+cluster://host:port`` (or ``redis://...?cluster=true``).

The relay's keys are built for a cluster (:mod:`relay.store.keys`: every multi-key script and transaction stays in
one hash tag), so the rest of the code runs unchanged on a :class:`redis.asyncio.cluster.RedisCluster`. Three
things differ and are handled where they happen:

* there is no single connection pool: the group commit of accepts (:mod:`relay.store.writer`) sends each batch
  as a cluster pipeline, which splits it by node;
* one ``XREADGROUP`` cannot read streams in different slots: :func:`read_streams` reads each partition's stream
  on its own, concurrently, with a short block;
* pipelines holding scripts do not load them by themselves: callers load a script again on ``NOSCRIPT``;
* ``WATCH`` transactions run on the node that owns the watched slot (:class:`RelayCluster`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import SlotNotCoveredError

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# Per-partition reads in a cluster cannot block together: each blocks at most this long, which bounds how late a
# worker sees a new event while keeping an idle worker's polling modest.
CLUSTER_BLOCK_MS = 100


def cluster_url(url: str) -> str | None:
    """The plain ``redis://`` URL of a cluster's seed node when ``url`` asks for cluster mode, else None."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flagged = any(name == "cluster" and value.lower() in ("1", "true", "yes") for name, value in query)
    if parts.scheme not in SCHEMES and not flagged:
        return None
    scheme = SCHEMES.get(parts.scheme, parts.scheme)
    rest = urlencode([(name, value) for name, value in query if name != "cluster"])
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment))


class RelayCluster(RedisCluster):
    """A :class:`RedisCluster` that behaves like the relay's standalone client where redis-py's differs.

    * ``transaction(func, *watches)`` (``WATCH``/``MULTI``/``EXEC``): redis-py runs a cluster transaction's reads
      in a thread with another event loop, which an asyncio app cannot use. The watched keys share one slot (the
      ``{subs}`` tag), so the transaction runs on a plain client of the node that serves that slot.
    * ``aclose(close_connection_pool=...)`` is accepted, and closes those node clients too.
    """

    _node_clients: dict[str, Redis]

    async def transaction(self, func: Any, *watches: Any, **kwargs: Any) -> Any:
        await self.initialize()
        node = self.get_node_from_key(watches[0])
        if node is None:
            raise SlotNotCoveredError(f"no node serves the slot of {watches[0]!r}")
        clients = self.__dict__.setdefault("_node_clients", {})
        client = clients.get(node.name)
        if client is None:
            pool = ConnectionPool(
                connection_class=node.connection_class, max_connections=node.max_connections, **node.connection_kwargs
            )
            client = clients[node.name] = Redis(connection_pool=pool)
        return await client.transaction(func, *watches, **kwargs)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        for client in self.__dict__.pop("_node_clients", {}).values():
            await client.aclose(close_connection_pool=True)
        await super().aclose()


def open_cluster(url: str, *, max_connections: int, connect_timeout_s: float, timeout_s: float) -> Redis:
    """A cluster client for ``url`` (already through :func:`cluster_url`).

    Typed as :class:`Redis`: a cluster client offers the same commands, and the few places that differ test
    :func:`is_cluster`.
    """
    client = RelayCluster.from_url(
        url,
        # Per node; a burst beyond it fails fast (503) instead of queueing as the standalone blocking pool does.
        max_connections=max_connections,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=timeout_s,
    )
    return cast(Redis, client)


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


async def read_streams(
    client: Redis, group: str, consumer: str, streams: Mapping[str, str], *, count: int, block_ms: int | None
) -> list[Any]:
    """``XREADGROUP`` over streams in different slots: one read per stream, run concurrently, replies merged.

    A read is never cancelled once sent (a cancelled ``>`` read could leave entries pending that nobody reads),
    so each one blocks for at most :data:`CLUSTER_BLOCK_MS`.
    """
    block = None if block_ms is None else min(block_ms, CLUSTER_BLOCK_MS)
    replies = await asyncio.gather(
        *(
            client.xreadgroup(group, consumer, {name: position}, count=count, block=block)
            for name, position in streams.items()
        )
    )
    merged: list[Any] = []
    for reply in replies:
        merged.extend(reply or [])
    return merged
