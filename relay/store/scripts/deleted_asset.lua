-- A marked copy's file is deleted: forget it, unless the mark lapsed and an event pointed to it again meanwhile
-- (then that event's copy stored it again and the new expiry stays).
--
-- KEYS[1] = expiry   relay:assets:expiry
-- ARGV[1] = sha256
-- ARGV[2] = the mark's deadline (unix ms), as given to forget_asset.lua

if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or 0) == -tonumber(ARGV[2]) then
    redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
