-- Store one callback unless the same one was stored before: the dedup key never exists without its event.
--
-- The event lives in its partition's stream entry (field e: relay.store.packing's packed form), not in a key of
-- its own, so it costs no key overhead and is trimmed with the stream. An event is found by its id alone: the
-- entry's id is <ms>-<n>, with <ms> the millisecond the event id carries. Stream ids only grow, so when the stream
-- already holds a later millisecond (another process's clock, a batch sent on another connection) the event takes
-- that millisecond, and its id is rewritten to carry it; the reply names the id stored.
--
-- KEYS[1] = dedup key      relay:{pNN}:dedup:<sha256>     string, holds the first event's id
-- KEYS[2] = (unused: events were hashes at relay:{pNN}:event:<id> before they were packed into the stream)
-- KEYS[3] = events stream  relay:{pNN}:events             stream of (id, provider, type, task_id, tag, e)
-- KEYS[4] = task index     relay:{pNN}:tasks:<day>        hash: task field -> the task's event ids that day, each
--                                                          followed by a space (unused without a task id)
-- ARGV[1] = dedup TTL in ms
-- ARGV[2] = event TTL in ms
-- ARGV[3] = event id as proposed (evt_ + ULID + partition); any other string is kept as is, with an automatic
--           stream id
-- ARGV[4] = the packed event (meta without id, request, body format, raw body)
-- ARGV[5] = the task's field in the task index
-- ARGV[6..7] = unused (they held fmt and request before events were packed)
-- ARGV[8] = stream MINID: entries older than the event TTL are trimmed
-- ARGV[9..12] = provider, type, task_id, tag (stream fields, for listing and delivery)
--
-- Returns {1, event id} when stored, {0, first event id} for a duplicate.

local CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

local function ms_of(id)
    if string.sub(id, 1, 4) ~= 'evt_' or string.len(id) ~= 32 then
        return nil
    end
    local ms = 0
    for i = 5, 14 do
        local digit = string.find(CROCKFORD, string.sub(id, i, i), 1, true)
        if not digit then
            return nil
        end
        ms = ms * 32 + digit - 1
    end
    return ms
end

local function crockford_ms(ms)
    local out = {}
    for i = 10, 1, -1 do
        local digit = ms % 32
        out[i] = string.sub(CROCKFORD, digit + 1, digit + 1)
        ms = (ms - digit) / 32
    end
    return table.concat(out)
end

local event_id, entry_id = ARGV[3], '*'
local ms = ms_of(event_id)
if ms then
    local seq = 0
    local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
    local last_id = last and last[1]
    if not last_id and redis.call('EXISTS', KEYS[3]) == 1 then
        -- Every entry trimmed: the stream still remembers the last id it gave.
        local info = redis.call('XINFO', 'STREAM', KEYS[3])
        for i = 1, #info, 2 do
            if info[i] == 'last-generated-id' then
                last_id = info[i + 1]
            end
        end
    end
    if last_id then
        local last_ms, last_seq = string.match(last_id, '^(%d+)-(%d+)$')
        last_ms = tonumber(last_ms)
        if last_ms >= ms then
            if last_ms > ms then
                event_id = 'evt_' .. crockford_ms(last_ms) .. string.sub(event_id, 15)
            end
            ms, seq = last_ms, tonumber(last_seq) + 1
        end
    end
    entry_id = string.format('%.0f-%.0f', ms, seq)
end

if not redis.call('SET', KEYS[1], event_id, 'NX', 'PX', ARGV[1]) then
    return {0, redis.call('GET', KEYS[1])}
end
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[8], entry_id,
    'id', event_id, 'provider', ARGV[9], 'type', ARGV[10], 'task_id', ARGV[11], 'tag', ARGV[12], 'e', ARGV[4])
if ARGV[11] ~= '' then
    local task_events = redis.call('HGET', KEYS[4], ARGV[5]) or ''
    redis.call('HSET', KEYS[4], ARGV[5], task_events .. event_id .. ' ')
    -- The day's last event expires within a day of this.
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[2]) + 86400000)
end
return {1, event_id}
