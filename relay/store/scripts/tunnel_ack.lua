-- Move a tunnel channel's position forward (never back) and record the entries a client gave up on.
--
-- KEYS[1] = state    relay:tunnel:{<channel>}:state    hash: position (entry id), position_n (its n)
-- KEYS[2] = failed   relay:tunnel:{<channel>}:failed   zset: entry id -> n
-- ARGV[1] = the newest entry id up to which every entry was handled ('' for none)
-- ARGV[2] = that entry's n
-- ARGV[3] = TTL in ms of both keys (the channel's lifetime when unused)
-- ARGV[4..] = entry id, n pairs the client gave up on
--
-- Returns the stored position ('' when none). Two clients on one channel both move it: the newest wins.

local state, failed = KEYS[1], KEYS[2]

local function parse(id)
    local ms, seq = string.match(id, '^(%d+)-(%d+)$')
    return tonumber(ms), tonumber(seq)
end

local position = redis.call('HGET', state, 'position') or ''
if ARGV[1] ~= '' then
    local newer = position == ''
    if not newer then
        local ams, aseq = parse(ARGV[1])
        local bms, bseq = parse(position)
        newer = ams > bms or (ams == bms and aseq > bseq)
    end
    if newer then
        redis.call('HSET', state, 'position', ARGV[1], 'position_n', ARGV[2])
        position = ARGV[1]
    end
end
for i = 4, #ARGV, 2 do
    redis.call('ZADD', failed, ARGV[i + 1], ARGV[i])
end
redis.call('PEXPIRE', state, ARGV[3])
if redis.call('EXISTS', failed) == 1 then
    redis.call('PEXPIRE', failed, ARGV[3])
end
return position
