-- AIMD multiplicative decrease after the provider throttled the sender, and Retry-After pause.
--
-- KEYS[1]  config hash  <prefix>:rl:{sender}
-- ARGV[1]  default rate (used when the hash has no rate)
-- ARGV[2]  decrease factor (e.g. 0.5)
-- ARGV[3]  floor rate (tokens per second); never decreases below min(floor, configured)
-- ARGV[4]  window in seconds: at most one decrease per window, so a burst of 429s from
--          requests already in flight cuts the rate once, not once per answer
-- ARGV[5]  retry-after in seconds, or a negative number for none
--
-- Returns 1 when the rate was decreased, 0 when the window suppressed it.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local cfg = redis.call('HMGET', KEYS[1], 'configured', 'current', 'decreased_at', 'paused_until')
local configured = tonumber(cfg[1]) or tonumber(ARGV[1])
local current = tonumber(cfg[2]) or configured
local decreased_at = tonumber(cfg[3]) or 0

local decreased = 0
if now - decreased_at >= tonumber(ARGV[4]) then
  local floor = math.min(tonumber(ARGV[3]), configured)
  local new_rate = math.max(floor, math.min(current, configured) * tonumber(ARGV[2]))
  redis.call('HSET', KEYS[1], 'current', string.format('%.6f', new_rate),
             'decreased_at', string.format('%.6f', now))
  decreased = 1
end

local retry_after = tonumber(ARGV[5])
if retry_after >= 0 then
  local until_ = now + retry_after
  local old = tonumber(cfg[4]) or 0
  if until_ > old then
    redis.call('HSET', KEYS[1], 'paused_until', string.format('%.6f', until_))
  end
end
return decreased
