-- Start the next scheduled campaign whose send_at has come. Only the caller that removes it
-- from the zset activates it (and publishes its jobs), so two workers never both do.
-- KEYS: scheduled zset, active campaigns set
-- ARGV: campaign key prefix ('<p>:campaign:')
-- Returns {} when none is due, else {campaign id, number of jobs, 1 if activated else 0}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #ids == 0 then return {} end
local id = ids[1]
redis.call('ZREM', KEYS[1], id)
local key = ARGV[1] .. id
if redis.call('HGET', key, 'state') ~= 'scheduled' then return {id, 0, 0} end
redis.call('HSET', key, 'state', 'running', 'reason', '', 'tp', string.format('%.3f', now))
redis.call('SADD', KEYS[2], id)
return {id, redis.call('HGET', key, 'jobs') or '0', 1}
