-- An event points to a copy: keep the file at least until the event expires (never shortens: another event may
-- need it longer). Refused while the file is being deleted (forget_asset.lua's mark, until its deadline): the
-- caller waits for the deletion to end and stores the file again.
--
-- KEYS[1] = expiry   relay:assets:expiry
-- ARGV[1] = sha256
-- ARGV[2] = when the event's copy may go (unix ms)
-- ARGV[3] = now (unix ms)
--
-- Returns 1 when referenced, 0 while being deleted.

local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
if score < 0 and -score > tonumber(ARGV[3]) then
    return 0
end
if score < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
return 1
