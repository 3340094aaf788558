-- Sender limiter: GCRA in "schedule" style, one round trip per grant.
--
-- KEYS[1]  config hash  <prefix>:rl:{sender}   fields: configured, current, paused_until
-- KEYS[2]  GCRA state   <prefix>:rl:{sender}:gcra   (theoretical arrival time, microseconds)
-- ARGV[1]  default rate (tokens per second) when the hash has no rate
-- ARGV[2]  burst (tokens that may go at once after an idle period), >= 1
-- ARGV[3]  reservation cap in microseconds: never hand out a slot further ahead than this
--
-- Returns {granted, wait_us, degraded}:
--   granted = 1: a slot is reserved; the caller sleeps wait_us (0 = go now) and sends.
--   granted = 0: nothing taken; the caller comes back after wait_us (paused, or the next
--                free slot is beyond the cap).
--   degraded = 1 when the adaptive rate is below the configured rate (lets the caller skip
--   the AIMD recovery round trip when the sender is healthy).
-- Time comes from Redis TIME only, so host clocks never matter.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local cfg = redis.call('HMGET', KEYS[1], 'configured', 'current', 'paused_until')
local configured = tonumber(cfg[1]) or tonumber(ARGV[1])
local current = tonumber(cfg[2]) or configured
local rate = math.min(current, configured)
local degraded = 0
if current < configured then degraded = 1 end

local paused_until = tonumber(cfg[3])
if paused_until then
  local p = paused_until * 1000000
  if p > now then
    return {0, math.ceil(p - now), degraded}
  end
end

local cap = tonumber(ARGV[3])
if rate <= 0 then
  return {0, cap, degraded}
end

local burst = tonumber(ARGV[2])
local interval = 1000000 / rate
local tat = tonumber(redis.call('GET', KEYS[2])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end

if wait > cap then
  -- Come back when this slot would be within the cap.
  return {0, math.ceil(wait - cap), degraded}
end

local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[2], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, math.ceil(wait), degraded}
