-- Mark an expired copy as being deleted, unless an event started pointing to it again since it was found expired
-- (its expiry moved). The mark is a negative score, -(until when the deleting worker may take): while it holds,
-- reference_asset.lua refuses new references, so no copy counts on a file about to go (it is stored again once
-- the deletion is over). A mark left by a worker that died mid-deletion lapses and is found expired again.
--
-- KEYS[1] = expiry   relay:assets:expiry   zset sha256 -> expiry ms (or -deadline ms while being deleted)
-- ARGV[1] = sha256
-- ARGV[2] = the score it had when found (an expiry, or a lapsed mark)
-- ARGV[3] = until when the deletion may take (unix ms)
--
-- Returns 1 when marked (the caller deletes the file, then calls deleted_asset.lua), 0 when it is referenced again.

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], -tonumber(ARGV[3]), ARGV[1])
return 1
