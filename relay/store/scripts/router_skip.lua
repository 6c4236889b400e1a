-- While no tunnel channel exists, move the tunnel router's group past every stored event without reading them:
-- nothing would receive them. The check and the move are one step, so a channel created after this call gets
-- every event stored after it, and one created before it makes this a no-op.
--
-- KEYS[1]     = the channel registry   relay:tunnels   hash: channel name -> channel
-- KEYS[2..]   = the events streams     relay:{p<n>}:events
-- ARGV[1]     = the router's consumer group
--
-- Returns 1 when the groups moved (no channel), else 0.

if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
for i = 2, #KEYS do
    redis.call('XGROUP', 'SETID', KEYS[i], ARGV[1], '$')
end
return 1
