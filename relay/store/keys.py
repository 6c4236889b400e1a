"""Every Redis key the relay uses, built here and nowhere else.

All keys start with ``relay:``. Keys that one Lua script touches together share a hash tag ``{pNN}``, the event's
partition (``crc32(provider, task_id) % RELAY_PARTITIONS``), so they live in one Redis Cluster slot.

=====================================  ======  ============================  =========================================
key                                    type    TTL                           holds
=====================================  ======  ============================  =========================================
relay:{pNN}:dedup:<sha256>             string  RELAY_DEDUP_TTL_S             id of the first event with this provider +
                                                                             task id + state (or body hash)
relay:{pNN}:events                     stream  trimmed past RELAY_EVENT_TTL_S  one entry per event, newest last: id,
                                                                             provider, type, task_id, tag, e (the
                                                                             packed event: relay.store.packing);
                                                                             entry id <ms of the event id>-<n>
relay:{pNN}:taskday:<day>              hash    RELAY_EVENT_TTL_S + 1 day     the task index of one UTC day (day =
                                                                             unix ms // 86,400,000): 16-byte digest
                                                                             of provider + task id -> the ids of its
                                                                             events stored that day, in arrival
                                                                             order, each followed by a space
relay:{pNN}:event:<event id>           hash    RELAY_EVENT_TTL_S             read only: events stored before they
                                                                             were packed (meta, body, fmt, request;
                                                                             assets written on those)
relay:{pNN}:event-assets:<event id>    string  the event's remaining TTL     the record of an event's file copies
                                                                             (JSON, relay.assets.records)
relay:{pNN}:task:<sha256>              list    RELAY_EVENT_TTL_S             read only: task index of those events
relay:rl:token:<sha256>                hash    refill time of a full burst   rate-limit bucket of one callback token:
                                       + 1 s                                 tokens left, ts (ms) of the last take
relay:rl:addr:<address>                hash    same                          rate-limit bucket of one client address
                                                                             (IPv6: its /64)
relay:rl:login:<address>               hash    same                          dashboard login attempts of one address
relay:{subs}:index                     zset    none                          subscription id -> creation time (ms)
relay:{subs}:sub:<sub id>              hash    none                          one subscription: url, filter, headers,
                                                                             secrets, enabled, failing_since_ms
relay:{pNN}:ingest                     string  lease (<= 10 s, renewed)      token of the one worker turning this
                                                                             partition's events into deliveries
relay:{pNN}:delivery:<dlv id>          hash    none while pending/failed,    one delivery: event id, subscription id,
                                               RELAY_EVENT_TTL_S once done   fixed body, status, attempts, next_ms
relay:{pNN}:attempts:<dlv id>          list    as its delivery               JSON record of each attempt (last 50)
relay:{pNN}:due                        zset    none                          delivery id -> when due (ms); while a
                                                                             worker holds it, its lease end
relay:{pNN}:chain:<sha256>             list    RELAY_EVENT_TTL_S             unfinished deliveries of one subscription
                                                                             + task, in event order; only the head
                                                                             is in ``due``
relay:{pNN}:deliveries                 zset    trimmed past RELAY_EVENT_TTL_S  every delivery id (score 0, ids sort
                                                                             by time), for listing
relay:{pNN}:event_deliveries:<evt id>  list    RELAY_EVENT_TTL_S             the delivery ids of one event
relay:tunnels                          hash    none (HDEL on delete)         channel name -> channel JSON (filter,
                                                                             mode, whsec_ secret, created_ms)
relay:tunnels:used                     zset    none (ZREM on delete/expiry)  channel name -> when last used (ms):
                                                                             stale channels are swept
relay:tunnel:{<channel>}:buffer        stream  RELAY_TUNNEL_BUFFER_MAX_AGE_S  what the channel's clients receive:
                                       (reset on every append; trimmed by  routed events (id, kind=event, provider,
                                       age, RELAY_TUNNEL_BUFFER_MAX_EVENTS  type, task_id) and webhooks POSTed to
                                       and _MAX_BYTES, oldest first)       /t/<channel> (id, kind=webhook, body,
                                                                             request, received_ms); every entry has
                                                                             n (1, 2, ...) and size (bytes)
relay:tunnel:{<channel>}:state         hash    RELAY_TUNNEL_CHANNEL_TTL_S    added (last n), bytes (buffered),
                                       (reset on every use)                position + position_n (acknowledged by
                                                                             the local server), dropped_id +
                                                                             dropped_n (newest entry trimmed)
relay:tunnel:{<channel>}:failed        zset    RELAY_TUNNEL_CHANNEL_TTL_S    buffer entry ids a client gave up on
                                                                             -> their n, until resent
relay:rl:tunnel:<sha256>               hash    as relay:rl:token             rate-limit bucket of POST /t/<channel>
relay:{subs}:version                   string  none                          a random token rewritten by every
                                                                             subscription write; workers reload
                                                                             their copy when it changes
relay:{pNN}:asset_retries              stream  trimmed to ASSET_RETRIES_KEPT  event ids whose failed copies an admin
                                                                             asked to retry (read by the copier)
relay:assets:expiry                    zset    none                          stored copy (sha256) -> when the last
                                                                             event pointing to it expires (ms); minus
                                                                             a deadline while a worker deletes it
relay:assets:sweep                     string  lease (RELAY_ASSETS_LEASE_S)  token of the worker deleting expired
                                                                             copies
relay:dash:logout:<sid>                string  the session's max age (12 h)  "1": the dashboard session with this
                                                                             random id logged out (its cookie is dead)
relay:{pNN}:taskrec:<sha256>          hash    none while open,              one tracked task (relay.tasks): provider,
                                               RELAY_EVENT_TTL_S once        task id, service, status, deadline, polls,
                                               terminal                      notify target; see relay.store.tasks
relay:{pNN}:polls                      zset    none                          open task digest -> when its next poll or
                                                                             deadline check is due (ms); while a
                                                                             poller holds it, its lease end
relay:{pNN}:tasks                      zset    trimmed past RELAY_EVENT_TTL_S  task digest -> creation time (ms), for
                                                                             listing
=====================================  ======  ============================  =========================================

Copies of an event's files (:mod:`relay.assets`) are recorded in the event's own hash (field ``assets``), so they
share its TTL; the copier reads the events stream through its own consumer group ``relay-assets``.

Rate-limit buckets and the channel registry are single-key operations, so they need no hash tag; one channel's
buffer, state and failed set share the hash tag ``{<channel>}`` (appends and acknowledgements are scripts).
Subscriptions share the hash tag ``{subs}`` (created and deleted in one MULTI). A delivery lives in its event's
partition, so creating it, acknowledging the stream entry and ordering it behind the same task's earlier
deliveries is one script in one slot. A tracked task lives in the partition of its events too, so storing an event
and moving its task on (accept.lua) is one script.
"""

from __future__ import annotations

import hashlib
import zlib

PREFIX = "relay:"


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        # Length-prefixed so ("ab", "c") and ("a", "bc") never collide.
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()


def partition_for(provider: str, task_id: str, partitions: int) -> int:
    return zlib.crc32(f"{provider}\x00{task_id}".encode()) % partitions


def _tag(partition: int) -> str:
    return f"{PREFIX}{{p{partition:02x}}}:"


def dedup(partition: int, provider: str, task_id: str, state: str, tag: str = "") -> str:
    """One callback's identity: provider, task, state and the callback URL's tag (tenants may share task ids)."""
    return f"{_tag(partition)}dedup:{_digest(provider, task_id, state, tag)}"


def event(partition: int, event_id: str) -> str:
    return f"{_tag(partition)}event:{event_id}"


def event_assets(partition: int, event_id: str) -> str:
    """String: the record of an event's file copies (JSON, :mod:`relay.assets.records`); expires with the event."""
    return f"{_tag(partition)}event-assets:{event_id}"


def events_stream(partition: int) -> str:
    return f"{_tag(partition)}events"


def task(partition: int, provider: str, task_id: str) -> str:
    """The task index of events stored before they were packed (a list); read, never written."""
    return f"{_tag(partition)}task:{_digest(provider, task_id)}"


# -- packed events (relay.store.packing) ------------------------------------------------------------------------
# The task index is one hash per partition and day rather than a key per task: a field costs about 110 bytes in
# Redis, a key of its own about 190, and most tasks have one to three events.
DAY_MS = 86_400_000


def task_index(partition: int, day: int) -> str:
    return f"{_tag(partition)}taskday:{day}"


def task_field(provider: str, task_id: str) -> bytes:
    """A task's field in the day's index: 128 bits of digest tell tasks apart, and each byte is paid per task."""
    return bytes.fromhex(_digest(provider, task_id)[:32])


def rate_token(token: str) -> str:
    # Hashed: a callback token is a credential, and key names show up in MONITOR and slow logs.
    return f"{PREFIX}rl:token:{_digest(token)}"


def rate_address(address: str) -> str:
    return f"{PREFIX}rl:addr:{address}"


def rate_login(address: str) -> str:
    return f"{PREFIX}rl:login:{address}"


SUBSCRIPTIONS_TAG = f"{PREFIX}{{subs}}:"
EVENTS_GROUP = "relay-delivery"


def subscriptions_index() -> str:
    return f"{SUBSCRIPTIONS_TAG}index"


def subscription(subscription_id: str) -> str:
    return f"{SUBSCRIPTIONS_TAG}sub:{subscription_id}"


def ingest_lease(partition: int) -> str:
    return f"{_tag(partition)}ingest"


def delivery(partition: int, delivery_id: str) -> str:
    return f"{_tag(partition)}delivery:{delivery_id}"


def attempts(partition: int, delivery_id: str) -> str:
    return f"{_tag(partition)}attempts:{delivery_id}"


def due(partition: int) -> str:
    return f"{_tag(partition)}due"


def chain(partition: int, subscription_id: str, provider: str, task_id: str) -> str:
    return f"{_tag(partition)}chain:{_digest(subscription_id, provider, task_id)}"


def deliveries_index(partition: int) -> str:
    return f"{_tag(partition)}deliveries"


def event_deliveries(partition: int, event_id: str) -> str:
    return f"{_tag(partition)}event_deliveries:{event_id}"


def tunnels() -> str:
    return f"{PREFIX}tunnels"


# --- tunnel channels (relay/store/tunnels.py) ---


def tunnels_used() -> str:
    return f"{PREFIX}tunnels:used"


def _tunnel_tag(channel: str) -> str:
    return f"{PREFIX}tunnel:{{{channel}}}:"


def tunnel_buffer(channel: str) -> str:
    return f"{_tunnel_tag(channel)}buffer"


def tunnel_state(channel: str) -> str:
    return f"{_tunnel_tag(channel)}state"


def tunnel_failed(channel: str) -> str:
    return f"{_tunnel_tag(channel)}failed"


def rate_tunnel(channel: str) -> str:
    # Hashed like callback tokens: a channel name is its write credential.
    return f"{PREFIX}rl:tunnel:{_digest(channel)}"


def subscriptions_version() -> str:
    return f"{SUBSCRIPTIONS_TAG}version"


# -- assets (relay.assets) -------------------------------------------------------------------------------------------
ASSETS_GROUP = "relay-assets"
ASSET_RETRIES_KEPT = 10_000


def asset_retries(partition: int) -> str:
    return f"{_tag(partition)}asset_retries"


def asset_expiry() -> str:
    return f"{PREFIX}assets:expiry"


def asset_sweep() -> str:
    return f"{PREFIX}assets:sweep"


# --- dashboard sessions (relay/store/sessions.py) ---


def dashboard_logout(sid: str) -> str:
    return f"{PREFIX}dash:logout:{sid}"


# -- tracked tasks (relay.tasks) ---------------------------------------------------------------------------------


def task_digest(provider: str, task_id: str) -> str:
    """The member naming a task in ``polls`` and ``tasks``; the same digest as its events list key."""
    return _digest(provider, task_id)


def task_record(partition: int, digest: str) -> str:
    return f"{_tag(partition)}taskrec:{digest}"


def task_polls(partition: int) -> str:
    return f"{_tag(partition)}polls"


def tasks_index(partition: int) -> str:
    return f"{_tag(partition)}tasks"
