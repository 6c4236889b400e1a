-- Record an attempt and move the delivery on: scheduled again (failed), or finished (succeeded, dead), in which
-- case the next delivery of the same subscription + task becomes due.
--
-- KEYS[1] = due            relay:{pNN}:due
-- KEYS[2] = delivery hash  relay:{pNN}:delivery:<dlv id>
-- KEYS[3] = attempts       relay:{pNN}:attempts:<dlv id>
-- KEYS[4] = chain          relay:{pNN}:chain:<sha256>   (untouched unless the delivery is chained)
-- ARGV[1] = delivery id
-- ARGV[2] = lease end ms the claim set ('' to skip the check: the delivery is not claimed)
-- ARGV[3] = attempt record JSON, or '' when finishing without an attempt (subscription gone)
-- ARGV[4] = new status: failed | succeeded | dead
-- ARGV[5] = next attempt ms (failed), or ''
-- ARGV[6] = now ms
-- ARGV[7] = TTL ms of a finished delivery
-- ARGV[8] = last status code or '', ARGV[9] = last error or ''
-- ARGV[10] = how many attempt records to keep
--
-- Returns 1 when applied, 0 when the lease was lost (the attempt is still recorded, the state is not changed).

if ARGV[3] ~= '' then
    redis.call('RPUSH', KEYS[3], ARGV[3])
    redis.call('LTRIM', KEYS[3], -tonumber(ARGV[10]), -1)
end
if ARGV[2] ~= '' and tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) ~= tonumber(ARGV[2]) then
    local ttl = redis.call('PTTL', KEYS[2])
    if ttl > 0 then
        redis.call('PEXPIRE', KEYS[3], ttl)
    elseif ttl == -2 then
        -- The delivery is gone (expired, or Redis lost its data): its attempts list would live forever.
        redis.call('DEL', KEYS[3])
    end
    return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[1])
    return 0
end
redis.call('HSET', KEYS[2], 'status', ARGV[4], 'next_ms', ARGV[5], 'updated_ms', ARGV[6],
    'last_status_code', ARGV[8], 'last_error', ARGV[9])
if ARGV[3] ~= '' then
    redis.call('HINCRBY', KEYS[2], 'attempts', 1)
end
if ARGV[4] == 'failed' then
    redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
    return 1
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
if redis.call('HGET', KEYS[2], 'chained') == '1' then
    redis.call('LREM', KEYS[4], 1, ARGV[1])
    local head = redis.call('LINDEX', KEYS[4], 0)
    if head and not redis.call('ZSCORE', KEYS[1], head) then
        redis.call('ZADD', KEYS[1], ARGV[6], head)
    end
end
return 1
