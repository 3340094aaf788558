-- Record that a worker is alive, on Redis' clock; return the ids of workers silent too long.
-- KEYS: workers zset
-- ARGV: worker id, lease seconds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('ZADD', KEYS[1], now, ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
