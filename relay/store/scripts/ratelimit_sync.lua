-- Apply the tokens one process took locally to a shared token bucket, and return what the bucket holds now.
--
-- KEYS[1] = bucket key   relay:rl:token:<sha256> or relay:rl:addr:<address>   hash: tokens, ts
-- ARGV[1] = refill rate, tokens per second (> 0)
-- ARGV[2] = burst: the bucket's capacity (>= 1)
-- ARGV[3] = now, unix ms (the caller's clock)
-- ARGV[4] = TTL in ms: longer than the refill of an empty bucket, so a missing key means "full"
-- ARGV[5] = tokens taken since the last sync (>= 0)
--
-- Returns the tokens left, as a string (may be fractional; negative when processes together took more than the
-- bucket held: the debt is repaid by the refill, down to at most one burst).

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
-- Instances with skewed clocks share buckets: time never runs backwards for a bucket.
if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
    ts = now
end
tokens = math.max(-burst, tokens - tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tostring(tokens)
