-- Record the state of an event's copies, unless the event expired meanwhile: the record must not outlive every
-- other trace of the event. Events are packed into their stream entry; events stored before packing are hashes.
--
-- KEYS[1] = assets record  relay:{pNN}:event-assets:<event id>  string: the record, expiring with the event
-- KEYS[2] = events stream  relay:{pNN}:events                   stream: the event's entry has id = ARGV[2]
-- KEYS[3] = legacy event   relay:{pNN}:event:<event id>         hash of an event stored before packing
-- ARGV[1] = the assets record (JSON)
-- ARGV[2] = the event id
-- ARGV[3] = the event's millisecond (its stream entry id's first part)
-- ARGV[4] = when the event expires (unix ms)
--
-- Returns 1 when recorded, 0 when the event is gone.

if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HSET', KEYS[3], 'assets', ARGV[1])
    return 1
end
local entries = redis.call('XRANGE', KEYS[2], ARGV[3] .. '-0', ARGV[3] .. '-18446744073709551615')
for _, entry in ipairs(entries) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
        if fields[i] == 'id' and fields[i + 1] == ARGV[2] then
            redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[4])
            return 1
        end
    end
end
return 0
