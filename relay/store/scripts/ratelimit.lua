-- Take one token from a token bucket that refills continuously at ARGV[1] per second up to ARGV[2].
--
-- KEYS[1] = bucket key   relay:rl:token:<sha256> or relay:rl:addr:<address>   hash: tokens, ts
-- ARGV[1] = refill rate, tokens per second (> 0)
-- ARGV[2] = burst: the bucket's capacity (>= 1)
-- ARGV[3] = now, unix ms (the caller's clock)
-- ARGV[4] = TTL in ms: longer than the refill of an empty bucket, so a missing key means "full"
-- ARGV[5] = optional cost, 1 by default; 0 only looks (is a token available?) and changes nothing
--
-- Returns {1, 0} when a token was taken (or, at cost 0, is there), {0, ms until one is available} when empty.

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[5]) or 1
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
-- Instances with skewed clocks share buckets: time never runs backwards for a bucket.
if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
    ts = now
end
if tokens < 1 then
    return {0, math.ceil((1 - tokens) * 1000 / rate)}
end
if cost == 0 then
    return {1, 0}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, 0}
