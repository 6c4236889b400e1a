-- Store one callback unless the same one was stored before: the dedup key never exists without its event.
-- A stored event of a tracked task also moves the task on (relay.tasks): its first terminal event closes it, and
-- a progress event of a task nobody registered starts tracking it when the caller names its service.
--
-- KEYS[1] = dedup key      relay:{pNN}:dedup:<sha256>     string, holds the first event's id
-- KEYS[2] = event key      relay:{pNN}:event:<event id>   hash: meta, body, fmt, request
-- KEYS[3] = events stream  relay:{pNN}:events             stream of (id, provider, type, task_id, tag[, notify])
-- KEYS[4] = task index     relay:{pNN}:task:<sha256>      list of the task's event ids (unused without a task id)
-- KEYS[5] = task record    relay:{pNN}:taskrec:<sha256>   hash: the tracked task (may not exist)
-- KEYS[6] = polls          relay:{pNN}:polls              zset task digest -> next poll ms
-- KEYS[7] = tasks index    relay:{pNN}:tasks              zset task digest -> created ms
-- ARGV[1] = dedup TTL in ms
-- ARGV[2] = event TTL in ms
-- ARGV[3] = event id
-- ARGV[4] = meta: the event JSON without "raw"
-- ARGV[5] = body: the raw request body, byte-exact
-- ARGV[6] = fmt: "json" when the body is spliced into the event verbatim, "bytes" when it is base64-encoded
-- ARGV[7] = request: JSON of method, path, query, headers, content type
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

if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[1]) then
    return {0, redis.call('GET', KEYS[1])}
end
redis.call('HSET', KEYS[2], 'meta', ARGV[4], 'body', ARGV[5], 'fmt', ARGV[6], 'request', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[2])

local notify = false
if ARGV[11] ~= '' then
    redis.call('RPUSH', KEYS[4], ARGV[3])
    redis.call('PEXPIRE', KEYS[4], ARGV[2])
    local status = ARGV[13]
    local terminal = status == 'succeeded' or status == 'failed' or status == 'timed_out'
    if redis.call('EXISTS', KEYS[5]) == 1 then
        local current = redis.call('HGET', KEYS[5], 'status')
        redis.call('HSET', KEYS[5], 'updated_ms', ARGV[15], 'last_event', ARGV[3], 'last_source', ARGV[19])
        local open = current ~= 'succeeded' and current ~= 'failed' and current ~= 'timed_out'
        -- The first result wins; a real result arriving after the relay gave up still replaces "timed_out".
        if terminal and (open or (current == 'timed_out' and status ~= 'timed_out')) then
            redis.call('HSET', KEYS[5], 'status', status, 'terminal_event', ARGV[3], 'closed_ms', ARGV[15])
            redis.call('ZREM', KEYS[6], ARGV[14])
            redis.call('PEXPIRE', KEYS[5], ARGV[2])
            -- Exactly one notification per task: whoever sets "notified" first sends it.
            if redis.call('HEXISTS', KEYS[5], 'notify_url') == 1
                and redis.call('HSETNX', KEYS[5], 'notified', ARGV[3]) == 1 then
                notify = true
            end
        end
    elseif ARGV[16] ~= '' and not terminal and status ~= '' then
        redis.call('HSET', KEYS[5], 'provider', ARGV[9], 'task_id', ARGV[11], 'service', ARGV[16], 'tag', ARGV[12],
            'status', 'waiting', 'origin', 'callback', 'created_ms', ARGV[15], 'updated_ms', ARGV[15],
            'deadline_ms', ARGV[17], 'horizon_ms', ARGV[18], 'polls', 0, 'last_event', ARGV[3],
            'last_source', ARGV[19])
        redis.call('ZADD', KEYS[6], ARGV[17], ARGV[14])
        redis.call('ZADD', KEYS[7], ARGV[15], ARGV[14])
        redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. string.format('%d', tonumber(ARGV[15]) - tonumber(ARGV[2])))
    end
end
if notify then
    redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[8], '*',
        'id', ARGV[3], 'provider', ARGV[9], 'type', ARGV[10], 'task_id', ARGV[11], 'tag', ARGV[12], 'notify', '1')
else
    redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[8], '*',
        'id', ARGV[3], 'provider', ARGV[9], 'type', ARGV[10], 'task_id', ARGV[11], 'tag', ARGV[12])
end
return {1, ARGV[3]}
