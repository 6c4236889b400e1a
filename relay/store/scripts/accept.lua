-- Store one callback unless the same one was stored before: the dedup key never exists without its event.
--
-- KEYS[1] = dedup key      relay:{pNN}:dedup:<sha256>     string, holds the first event's id
-- KEYS[2] = event key      relay:{pNN}:event:<event id>   hash: meta, body, fmt, request
-- KEYS[3] = events stream  relay:{pNN}:events             stream of (id, provider, type, task_id, tag)
-- KEYS[4] = task index     relay:{pNN}:task:<sha256>      list of the task's event ids (unused without a task id)
-- ARGV[1] = dedup TTL in ms
-- ARGV[2] = event TTL in ms
-- ARGV[3] = event id
-- ARGV[4] = meta: the event JSON without "raw"
-- ARGV[5] = body: the raw request body, byte-exact
-- ARGV[6] = fmt: "json" when the body is spliced into the event verbatim, "bytes" when it is base64-encoded
-- ARGV[7] = request: JSON of method, path, query, headers, content type
-- ARGV[8] = stream MINID: entries older than the event TTL are trimmed
-- ARGV[9..12] = provider, type, task_id, tag (stream fields, for listing and delivery)
--
-- Returns {1, event id} when stored, {0, first event id} for a duplicate.

if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[1]) then
    return {0, redis.call('GET', KEYS[1])}
end
redis.call('HSET', KEYS[2], 'meta', ARGV[4], 'body', ARGV[5], 'fmt', ARGV[6], 'request', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[8], '*',
    'id', ARGV[3], 'provider', ARGV[9], 'type', ARGV[10], 'task_id', ARGV[11], 'tag', ARGV[12])
if ARGV[11] ~= '' then
    redis.call('RPUSH', KEYS[4], ARGV[3])
    redis.call('PEXPIRE', KEYS[4], ARGV[2])
end
return {1, ARGV[3]}
