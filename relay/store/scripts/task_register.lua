-- Register a task, or merge a registration into the record a callback (or an earlier registration) started.
-- An open task is (re)scheduled at its deadline; a closed one keeps its status (its result is already known).
--
-- KEYS[1] = task record   relay:{pNN}:taskrec:<sha256>   hash
-- KEYS[2] = polls         relay:{pNN}:polls              zset task digest -> next poll ms
-- KEYS[3] = tasks index   relay:{pNN}:tasks              zset task digest -> created ms
-- ARGV[1] = task digest
-- ARGV[2] = now ms
-- ARGV[3] = provider, ARGV[4] = task id, ARGV[5] = service, ARGV[6] = tag ('' = none / keep)
-- ARGV[7] = deadline ms, ARGV[8] = horizon ms
-- ARGV[9] = notify URL ('' = none / keep), ARGV[10] = a fresh notify secret, kept only if the task has none
-- ARGV[11] = event TTL ms (the index is trimmed past it)
--
-- Returns 1 when the record was created, 0 when it was merged.

local created = redis.call('EXISTS', KEYS[1]) == 0
if created then
    redis.call('HSET', KEYS[1], 'provider', ARGV[3], 'task_id', ARGV[4], 'status', 'waiting', 'created_ms', ARGV[2],
        'polls', 0)
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', tonumber(ARGV[2]) - tonumber(ARGV[11])))
end
redis.call('HSET', KEYS[1], 'service', ARGV[5], 'origin', 'registered', 'updated_ms', ARGV[2],
    'deadline_ms', ARGV[7], 'horizon_ms', ARGV[8])
if ARGV[6] ~= '' then
    redis.call('HSET', KEYS[1], 'tag', ARGV[6])
end
if ARGV[9] ~= '' then
    redis.call('HSET', KEYS[1], 'notify_url', ARGV[9])
    redis.call('HSETNX', KEYS[1], 'notify_secret', ARGV[10])
end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'succeeded' and status ~= 'failed' and status ~= 'timed_out' then
    redis.call('HSET', KEYS[1], 'status', 'waiting')
    redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
end
return created and 1 or 0
