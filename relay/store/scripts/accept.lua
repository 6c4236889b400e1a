-- Store one callback unless the same one was stored before: the dedup key never exists without its event.
-- A stored event of a tracked task also moves the task on (relay.tasks): its first terminal event closes it, and
-- a progress event of a task nobody registered starts tracking it when the caller names its service.
--
-- The event lives in its partition's stream entry (field e: relay.store.packing's packed form), not in a key of
-- its own, so it costs no key overhead and is trimmed with the stream. An event is found by its id alone: the
-- entry's id is <ms>-<n>, with <ms> the millisecond the event id carries. Stream ids only grow, so when the stream
-- already holds a later millisecond (another process's clock, a batch sent on another connection) the event takes
-- that millisecond, and its id is rewritten to carry it; the reply names the id stored.
--
-- KEYS[1] = dedup key      relay:{pNN}:dedup:<sha256>     string, holds the first event's id
-- KEYS[2] = (unused: events were hashes at relay:{pNN}:event:<id> before they were packed into the stream)
-- KEYS[3] = events stream  relay:{pNN}:events             stream of (id, provider, type, task_id, tag[, notify], e)
-- KEYS[4] = task index     relay:{pNN}:taskday:<day>      hash: task field -> the task's event ids that day, each
--                                                          followed by a space (unused without a task id)
-- KEYS[5] = task record    relay:{pNN}:taskrec:<sha256>   hash: the tracked task (may not exist)
-- KEYS[6] = polls          relay:{pNN}:polls              zset task digest -> next poll ms
-- KEYS[7] = tasks index    relay:{pNN}:tasks              zset task digest -> created ms
-- ARGV[1] = dedup TTL in ms
-- ARGV[2] = event TTL in ms
-- ARGV[3] = event id as proposed (evt_ + ULID + partition); any other string is kept as is, with an automatic
--           stream id
-- ARGV[4] = the packed event (meta without id, request, body format, raw body)
-- ARGV[5] = the task's field in the task index
-- ARGV[6..7] = unused (they held fmt and request before events were packed)
-- ARGV[8] = stream MINID: entries older than the event TTL are trimmed
-- ARGV[9..12] = provider, type, task_id, tag (stream fields, for listing and delivery)
-- ARGV[13] = the event's task status: succeeded | failed | timed_out | processing | queued ('' when unrecognized)
-- ARGV[14] = task digest (the member in polls and tasks)
-- ARGV[15] = now ms
-- ARGV[16] = service of an untracked task to start tracking ('' = do not)
-- ARGV[17] = its deadline ms, ARGV[18] = its horizon ms
-- ARGV[19] = source: callback | poll | relay
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

local notify = false
if ARGV[11] ~= '' then
    local task_events = redis.call('HGET', KEYS[4], ARGV[5]) or ''
    redis.call('HSET', KEYS[4], ARGV[5], task_events .. event_id .. ' ')
    -- The day's last event expires within a day of this.
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[2]) + 86400000)
    local status = ARGV[13]
    local terminal = status == 'succeeded' or status == 'failed' or status == 'timed_out'
    if redis.call('EXISTS', KEYS[5]) == 1 then
        local current = redis.call('HGET', KEYS[5], 'status')
        redis.call('HSET', KEYS[5], 'updated_ms', ARGV[15], 'last_event', event_id, 'last_source', ARGV[19])
        local open = current ~= 'succeeded' and current ~= 'failed' and current ~= 'timed_out'
        -- The first result wins; a real result arriving after the relay gave up still replaces "timed_out".
        if terminal and (open or (current == 'timed_out' and status ~= 'timed_out')) then
            redis.call('HSET', KEYS[5], 'status', status, 'terminal_event', event_id, 'closed_ms', ARGV[15])
            redis.call('ZREM', KEYS[6], ARGV[14])
            redis.call('PEXPIRE', KEYS[5], ARGV[2])
            -- Exactly one notification per task: whoever sets "notified" first sends it.
            if redis.call('HEXISTS', KEYS[5], 'notify_url') == 1
                and redis.call('HSETNX', KEYS[5], 'notified', event_id) == 1 then
                notify = true
            end
        end
    elseif ARGV[16] ~= '' and not terminal and status ~= '' then
        redis.call('HSET', KEYS[5], 'provider', ARGV[9], 'task_id', ARGV[11], 'service', ARGV[16], 'tag', ARGV[12],
            'status', 'waiting', 'origin', 'callback', 'created_ms', ARGV[15], 'updated_ms', ARGV[15],
            'deadline_ms', ARGV[17], 'horizon_ms', ARGV[18], 'polls', 0, 'last_event', event_id,
            'last_source', ARGV[19])
        redis.call('ZADD', KEYS[6], ARGV[17], ARGV[14])
        redis.call('ZADD', KEYS[7], ARGV[15], ARGV[14])
        redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. string.format('%d', tonumber(ARGV[15]) - tonumber(ARGV[2])))
    end
end
if notify then
    redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[8], entry_id, 'id', event_id, 'provider', ARGV[9],
        'type', ARGV[10], 'task_id', ARGV[11], 'tag', ARGV[12], 'notify', '1', 'e', ARGV[4])
else
    redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[8], entry_id, 'id', event_id, 'provider', ARGV[9],
        'type', ARGV[10], 'task_id', ARGV[11], 'tag', ARGV[12], 'e', ARGV[4])
end
return {1, event_id}
