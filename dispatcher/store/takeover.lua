-- Take over the jobs held by a dead worker, atomically, so only one reaper handles them.
-- KEYS: workers zset, held set of the dead worker, held set of this worker
-- ARGV: dead worker id, lease seconds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen or tonumber(seen) > now - tonumber(ARGV[2]) then return {} end
local ids = redis.call('SMEMBERS', KEYS[2])
if #ids > 0 then redis.call('SADD', KEYS[3], unpack(ids)) end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return ids
