-- Forget an expired copy before deleting it, unless an event started pointing to it again since it was found
-- expired (its expiry moved): compare-and-delete on one key, like a lock release.
--
-- KEYS[1] = expiry   relay:assets:expiry   zset sha256 -> expiry ms
-- ARGV[1] = sha256
-- ARGV[2] = the expiry ms it had when found
--
-- Returns 1 when forgotten (the caller deletes the file), 0 when it is referenced again (keep it).

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > tonumber(ARGV[2]) then
    return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
