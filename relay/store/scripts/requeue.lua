-- Send a delivery again (manual retry, recover): a finished one is reopened and queued behind its chain; an
-- unfinished one that is scheduled becomes due now (one waiting in a chain keeps its place).
--
-- KEYS[1] = due            relay:{pNN}:due
-- KEYS[2] = delivery hash  relay:{pNN}:delivery:<dlv id>
-- KEYS[3] = attempts       relay:{pNN}:attempts:<dlv id>
-- KEYS[4] = chain          relay:{pNN}:chain:<sha256>
-- ARGV[1] = delivery id
-- ARGV[2] = now ms
-- ARGV[3] = chain TTL ms
--
-- Returns the status it had, or false when there is no such delivery.

local status = redis.call('HGET', KEYS[2], 'status')
if not status then
    return false
end
if status == 'succeeded' or status == 'dead' then
    redis.call('HSET', KEYS[2], 'status', 'pending', 'next_ms', ARGV[2], 'updated_ms', ARGV[2])
    redis.call('PERSIST', KEYS[2])
    redis.call('PERSIST', KEYS[3])
    if redis.call('HGET', KEYS[2], 'chained') == '1' then
        if redis.call('RPUSH', KEYS[4], ARGV[1]) == 1 then
            redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        end
        redis.call('PEXPIRE', KEYS[4], ARGV[3])
    else
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
    end
else
    if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], ARGV[1]) == 1 then
        redis.call('HSET', KEYS[2], 'next_ms', ARGV[2])
    end
end
return status
