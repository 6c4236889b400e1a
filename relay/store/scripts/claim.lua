-- Claim due deliveries: each one's score becomes the end of this worker's lease, so no other worker sees it as
-- due until then (a worker killed mid-attempt loses its claim when the lease ends). The read and the move must
-- be one step, or two workers would claim the same delivery.
--
-- KEYS[1] = due   relay:{pNN}:due   zset delivery id -> due ms (or lease end ms)
-- ARGV[1] = now ms
-- ARGV[2] = lease end ms: also the lease's token, checked when the attempt is recorded
-- ARGV[3] = at most this many
--
-- Returns the claimed delivery ids.

local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
    redis.call('ZADD', KEYS[1], ARGV[2], id)
end
return ids
