-- Hand a claimed delivery back (worker draining, or its subscription at its concurrency limit) without an
-- attempt, unless the lease already passed to someone else. Compare-and-set on one key.
--
-- KEYS[1] = due   relay:{pNN}:due
-- ARGV[1] = delivery id
-- ARGV[2] = lease end ms the claim set
-- ARGV[3] = when it is due again, ms
--
-- Returns 1 when released, 0 when the lease was no longer held.

if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) ~= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
