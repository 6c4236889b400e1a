-- Record the state of an event's copies in the event's hash, unless the event expired meanwhile (an HSET on a
-- missing key would recreate it without its TTL, outliving every other trace of the event).
--
-- KEYS[1] = event key   relay:{pNN}:event:<event id>   hash: meta, body, fmt, request, assets
-- ARGV[1] = the assets record (JSON)
--
-- Returns 1 when recorded, 0 when the event is gone.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], 'assets', ARGV[1])
return 1
