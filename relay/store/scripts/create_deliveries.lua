-- Create the deliveries of one event and acknowledge its stream entry, all or nothing.
--
-- KEYS[1] = ingest lease       relay:{pNN}:ingest                  string, the token of the worker owning ingest
-- KEYS[2] = events stream      relay:{pNN}:events
-- KEYS[3] = due                relay:{pNN}:due                     zset delivery id -> due ms
-- KEYS[4] = deliveries index   relay:{pNN}:deliveries              zset, score 0, lexicographic by id
-- KEYS[5] = event deliveries   relay:{pNN}:event_deliveries:<id>   list of the event's delivery ids
-- KEYS[4+2i] = delivery hash i relay:{pNN}:delivery:<dlv id>       (i = 1..n)
-- KEYS[5+2i] = chain i         relay:{pNN}:chain:<sha256>          list: unfinished deliveries of subscription + task
-- ARGV[1] = lease token, or '' for a replay (no lease check, no XACK)
-- ARGV[2] = consumer group
-- ARGV[3] = stream entry id
-- ARGV[4] = now ms
-- ARGV[5] = event TTL ms
-- ARGV[6] = index floor: ids sorting before it are trimmed from the index
-- ARGV[7..11] = event id, body (the rendered event JSON), provider, type, task_id ('' when none)
-- ARGV[12] = n, then ARGV[11+2i] = delivery id i, ARGV[12+2i] = subscription id i
--
-- Returns 1, or -1 (nothing written) when another worker holds the ingest lease.

if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return -1
end
local chained = ARGV[11] ~= '' and '1' or '0'
local n = tonumber(ARGV[12])
for i = 1, n do
    local hash, chain = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
    local id, sub = ARGV[11 + 2 * i], ARGV[12 + 2 * i]
    redis.call('HSET', hash, 'id', id, 'event_id', ARGV[7], 'subscription_id', sub, 'body', ARGV[8],
        'provider', ARGV[9], 'type', ARGV[10], 'task_id', ARGV[11], 'chained', chained,
        'status', 'pending', 'attempts', 0, 'created_ms', ARGV[4], 'updated_ms', ARGV[4], 'next_ms', ARGV[4])
    redis.call('ZADD', KEYS[4], 0, id)
    redis.call('RPUSH', KEYS[5], id)
    if chained == '1' then
        -- Only the head of a chain is due; the others wait until the one before them is finished.
        if redis.call('RPUSH', chain, id) == 1 then
            redis.call('ZADD', KEYS[3], ARGV[4], id)
        end
        redis.call('PEXPIRE', chain, ARGV[5])
    else
        redis.call('ZADD', KEYS[3], ARGV[4], id)
    end
end
if n > 0 then
    redis.call('PEXPIRE', KEYS[5], ARGV[5])
end
redis.call('ZREMRANGEBYLEX', KEYS[4], '-', '(' .. ARGV[6])
if ARGV[1] ~= '' then
    redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])
end
return 1
