-- Append entries to a tunnel channel's buffer, numbering them 1, 2, ..., then drop the oldest entries past the
-- bounds (age, count, bytes), so a client resuming from a position can tell exactly how many it missed.
--
-- KEYS[1] = buffer   relay:tunnel:{<channel>}:buffer   stream; every entry gets fields n and size
-- KEYS[2] = state    relay:tunnel:{<channel>}:state    hash: added (last n), bytes (sum of size), dropped_id,
--                                                      oldest (the buffer's first id)
-- ARGV[1] = the oldest ms to keep: entries whose id is older are dropped
-- ARGV[2] = max entries
-- ARGV[3] = max bytes (sum of the entries' field values)
-- ARGV[4] = buffer TTL in ms (an idle buffer disappears)
-- ARGV[5] = state TTL in ms (the channel's lifetime when unused)
-- ARGV[6] = number of entries, then for each: its number of fields k, then k name/value pairs
--
-- Returns the new entries' ids.
--
-- Only this script adds and drops entries, so the state remembers the buffer's first id: within the bounds, an
-- append does not read the oldest entry back (with its body) to learn its age.

local buffer, state = KEYS[1], KEYS[2]
local len = redis.call('XLEN', buffer)
local kept = redis.call('HMGET', state, 'added', 'bytes', 'oldest')
local added = tonumber(kept[1] or '0')
-- An expired buffer took its bytes and its first entry with it.
local bytes, oldest, entry = 0, false, nil
if len > 0 then
    bytes = tonumber(kept[2] or '0')
    oldest = kept[3]
    if not oldest then -- the state expired before the buffer
        entry = redis.call('XRANGE', buffer, '-', '+', 'COUNT', 1)[1]
        oldest = entry[1]
    end
end
local ids = {}
local i = 7
for _ = 1, tonumber(ARGV[6]) do
    local k = tonumber(ARGV[i])
    i = i + 1
    local fields = {}
    local size = 0
    for j = 0, 2 * k - 1 do
        fields[#fields + 1] = ARGV[i + j]
        if j % 2 == 1 then
            size = size + #ARGV[i + j]
        end
    end
    i = i + 2 * k
    added = added + 1
    fields[#fields + 1] = 'n'
    fields[#fields + 1] = string.format('%d', added)
    fields[#fields + 1] = 'size'
    fields[#fields + 1] = string.format('%d', size)
    ids[#ids + 1] = redis.call('XADD', buffer, '*', unpack(fields))
    bytes = bytes + size
    len = len + 1
end
if not oldest then
    oldest = ids[1]
end

local min_ms, max_events, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dropped = nil
while len > 0 do
    if len <= max_events and bytes <= max_bytes and tonumber(string.match(oldest, '^(%d+)')) >= min_ms then
        break
    end
    entry = entry or redis.call('XRANGE', buffer, '-', '+', 'COUNT', 1)[1]
    local f = entry[2]
    for j = 1, #f, 2 do
        if f[j] == 'size' then
            bytes = bytes - tonumber(f[j + 1])
        end
    end
    redis.call('XDEL', buffer, entry[1])
    len = len - 1
    dropped = entry[1]
    entry = redis.call('XRANGE', buffer, '-', '+', 'COUNT', 1)[1]
    oldest = entry and entry[1]
end
if len == 0 then
    bytes = 0
end
if oldest then
    redis.call('HSET', state, 'added', string.format('%d', added), 'bytes', string.format('%d', bytes), 'oldest', oldest)
else
    redis.call('HSET', state, 'added', string.format('%d', added), 'bytes', string.format('%d', bytes))
    redis.call('HDEL', state, 'oldest')
end
if dropped then
    redis.call('HSET', state, 'dropped_id', dropped)
end
redis.call('PEXPIRE', buffer, ARGV[4])
redis.call('PEXPIRE', state, ARGV[5])
return ids
