-- AIMD additive increase back towards the configured rate after clean answers.
--
-- KEYS[1]  config hash  <prefix>:rl:{sender}
-- ARGV[1]  default rate (used when the hash has no configured rate)
-- ARGV[2]  increase per second as a fraction of configured (e.g. 0.05)
-- ARGV[3]  minimum increase per second (e.g. 1)
-- ARGV[4]  most seconds credited by one call (bounds the jump after an idle spell)
--
-- The increase is proportional to the time since the last increase or decrease, so any number
-- of processes calling about once a second together climb by one step per second.
-- Returns 1 while the rate is still below configured, 0 once it is back.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local cfg = redis.call('HMGET', KEYS[1], 'configured', 'current', 'decreased_at', 'increased_at')
local configured = tonumber(cfg[1]) or tonumber(ARGV[1])
local current = tonumber(cfg[2])
if current == nil or current >= configured then
  return 0
end

local since = math.max(tonumber(cfg[3]) or 0, tonumber(cfg[4]) or 0)
local elapsed = tonumber(ARGV[4])
if since > 0 then elapsed = math.min(elapsed, math.max(0, now - since)) end

local step = math.max(tonumber(ARGV[3]), tonumber(ARGV[2]) * configured)
local new_rate = math.min(configured, current + step * elapsed)
redis.call('HSET', KEYS[1], 'current', string.format('%.6f', new_rate),
           'increased_at', string.format('%.6f', now))
if new_rate < configured then return 1 end
return 0
