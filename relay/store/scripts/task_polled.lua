-- Record one turn of the poller on a task it claimed, and schedule the next one (or stop polling).
-- Applied only while the claim is this poller's: the task's score in polls is still the lease end it set.
--
-- KEYS[1] = polls         relay:{pNN}:polls              zset task digest -> next poll ms (lease end while claimed)
-- KEYS[2] = task record   relay:{pNN}:taskrec:<sha256>   hash
-- ARGV[1] = task digest
-- ARGV[2] = lease end ms the claim set
-- ARGV[3] = next poll ms, or '' to stop polling it
-- ARGV[4] = new status (polling | overdue), or '' to keep it
-- ARGV[5] = now ms
-- ARGV[6] = the turn's error ('' when none)
-- ARGV[7] = 1 when a request reached the provider (counted as a poll), else 0
--
-- Returns 1 when applied, 0 when the claim was lost or the task closed meanwhile (it is then left alone).

if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) ~= tonumber(ARGV[2]) then
    return 0
end
local status = redis.call('HGET', KEYS[2], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'timed_out' then
    redis.call('ZREM', KEYS[1], ARGV[1])
    return 0
end
if ARGV[7] == '1' then
    redis.call('HINCRBY', KEYS[2], 'polls', 1)
    redis.call('HSET', KEYS[2], 'last_poll_ms', ARGV[5])
end
if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[2], 'status', ARGV[4])
end
redis.call('HSET', KEYS[2], 'last_error', ARGV[6], 'next_ms', ARGV[3], 'updated_ms', ARGV[5])
if ARGV[3] == '' then
    redis.call('ZREM', KEYS[1], ARGV[1])
else
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
