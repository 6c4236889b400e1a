-- Close a task on an event that is already stored: a poll whose result had arrived as a callback (a duplicate),
-- or a registration that comes after the task's result. The first result wins, as in accept.lua; a real result
-- still replaces "timed_out". The notification is claimed here exactly as accept.lua claims it, and stays
-- "pending" until the caller has created its delivery (a crash in between is repaired by the next settle).
--
-- KEYS[1] = task record   relay:{pNN}:taskrec:<sha256>   hash
-- KEYS[2] = polls         relay:{pNN}:polls              zset
-- ARGV[1] = task digest
-- ARGV[2] = terminal status: succeeded | failed | timed_out
-- ARGV[3] = the event id
-- ARGV[4] = now ms
-- ARGV[5] = event TTL ms
--
-- Returns the event id whose notification is pending (the caller creates its delivery), or false.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return false
end
local current = redis.call('HGET', KEYS[1], 'status')
local open = current ~= 'succeeded' and current ~= 'failed' and current ~= 'timed_out'
if open or (current == 'timed_out' and ARGV[2] ~= 'timed_out') then
    redis.call('HSET', KEYS[1], 'status', ARGV[2], 'terminal_event', ARGV[3], 'closed_ms', ARGV[4],
        'updated_ms', ARGV[4])
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
-- Also when the task was closed before anyone asked for a notification (a registration after the result).
if redis.call('HEXISTS', KEYS[1], 'notify_url') == 1 then
    local closing = redis.call('HGET', KEYS[1], 'terminal_event')
    if closing and redis.call('HSETNX', KEYS[1], 'notified', closing) == 1 then
        redis.call('HSET', KEYS[1], 'notify_pending', closing)
    end
end
return redis.call('HGET', KEYS[1], 'notify_pending')
