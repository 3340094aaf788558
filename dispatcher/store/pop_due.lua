-- Take the retries that are due: remove them from the due set and hold them for this worker
-- (so a worker that dies right after is covered by the reaper).
-- KEYS: due zset, held set of this worker
-- ARGV: how many at most
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('SADD', KEYS[2], unpack(ids))
end
return ids
