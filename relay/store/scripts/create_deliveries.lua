-- Create the deliveries of a run of events (in order) and acknowledge their stream entries, all or nothing.
--
-- KEYS[1] = ingest lease       relay:{pNN}:ingest                  string, the token of the worker owning ingest
-- KEYS[2] = events stream      relay:{pNN}:events
-- KEYS[3] = due                relay:{pNN}:due                     zset delivery id -> due ms
-- KEYS[4] = deliveries index   relay:{pNN}:deliveries              zset, score 0, lexicographic by id
-- then, for each event e in order:
--   one key       event deliveries   relay:{pNN}:event_deliveries:<id>   list of the event's delivery ids
--   two per delivery i of e (i = 1..n_e):
--                 delivery hash      relay:{pNN}:delivery:<dlv id>
--                 chain              relay:{pNN}:chain:<sha256>          list: unfinished deliveries of
--                                                                        subscription + task
-- ARGV[1] = lease token, or '' for a replay (no lease check, no XACK)
-- ARGV[2] = consumer group
-- ARGV[3] = now ms
-- ARGV[4] = event TTL ms
-- ARGV[5] = index floor: ids sorting before it are trimmed from the index
-- ARGV[6] = number of events
-- then, for each event e in order: stream entry id ('' for none), event id, provider, type, task_id ('' when none),
--   n_e, then n_e pairs: delivery id, subscription id
--
-- A delivery names its event and holds no copy of it: the worker reads the event when it sends it.
--
-- Returns 1, or -1 (nothing written) when another worker holds the ingest lease.

if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return -1
end
local now, ttl = ARGV[3], ARGV[4]
local k, a = 5, 7
for _ = 1, tonumber(ARGV[6]) do
    local entry, event_id, provider, kind, task = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    local n = tonumber(ARGV[a + 5])
    local event_deliveries = KEYS[k]
    local chained = task ~= '' and '1' or '0'
    a, k = a + 6, k + 1
    for _ = 1, n do
        local hash, chain = KEYS[k], KEYS[k + 1]
        local id, sub = ARGV[a], ARGV[a + 1]
        a, k = a + 2, k + 2
        redis.call('HSET', hash, 'id', id, 'event_id', event_id, 'subscription_id', sub,
            'provider', provider, 'type', kind, 'task_id', task, 'chained', chained,
            'status', 'pending', 'attempts', 0, 'created_ms', now, 'updated_ms', now, 'next_ms', now)
        redis.call('ZADD', KEYS[4], 0, id)
        redis.call('RPUSH', event_deliveries, id)
        if chained == '1' then
            -- Only the head of a chain is due; the others wait until the one before them is finished.
            if redis.call('RPUSH', chain, id) == 1 then
                redis.call('ZADD', KEYS[3], now, id)
            end
            redis.call('PEXPIRE', chain, ttl)
        else
            redis.call('ZADD', KEYS[3], now, id)
        end
    end
    if n > 0 then
        redis.call('PEXPIRE', event_deliveries, ttl)
    end
    if ARGV[1] ~= '' and entry ~= '' then
        redis.call('XACK', KEYS[2], ARGV[2], entry)
    end
end
redis.call('ZREMRANGEBYLEX', KEYS[4], '-', '(' .. ARGV[5])
return 1
