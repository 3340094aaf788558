-- Sender limiter: GCRA in "schedule" style, one round trip per grant.
--
-- KEYS[1]  config hash  <prefix>:rl:{sender}   fields: configured, current, paused_until
-- KEYS[2]  GCRA state   <prefix>:rl:{sender}:gcra   hash, microseconds:
--            tat   = theoretical arrival time (end of the reserved schedule)
--            queue = next "come back" time handed to a caller that got no slot
-- ARGV[1]  default rate (tokens per second) when the hash has no rate
-- ARGV[2]  burst (tokens that may go at once after an idle period), >= 1
-- ARGV[3]  reservation cap in microseconds: never hand out a slot further ahead than this
--
-- Returns {granted, wait_us, degraded, now_us[, interval_us when granted]}:
--   granted = 1: a slot is reserved; the caller sleeps wait_us (0 = go now) and sends.
--   granted = 0: nothing taken; the caller comes back after wait_us (paused, or the next
--                free slot is beyond the cap). Callers turned away are spaced one interval
--                apart (the queue cursor), each told to come back when a slot should fit, so
--                hundreds of waiting callers cost about one extra round trip per grant
--                instead of all retrying at the same instant. The queue holds nothing: a
--                caller coming back runs the whole check again (new rate, pause).
--   degraded = 1 when the adaptive rate is below the configured rate (lets the caller skip
--   the AIMD recovery round trip when the sender is healthy).
--   now_us = the Redis TIME the answer was computed at, so the caller can sleep until the
--   exact moment named even when reading the reply was delayed.
-- Time comes from Redis TIME only, so host clocks never matter.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local cfg = redis.call('HMGET', KEYS[1], 'configured', 'current', 'paused_until')
local configured = tonumber(cfg[1]) or tonumber(ARGV[1])
local current = tonumber(cfg[2]) or configured
local rate = math.min(current, configured)
local degraded = 0
if current < configured then degraded = 1 end

local cap = tonumber(ARGV[3])
local burst = tonumber(ARGV[2])
local st = redis.call('HMGET', KEYS[2], 'tat', 'queue')
local tat = tonumber(st[1]) or now
if tat < now then tat = now end
local queue = tonumber(st[2]) or 0

if rate <= 0 then
  return {0, cap, degraded, now}
end
local interval = 1000000 / rate

-- Turn the caller away until `earliest`, or later when others were turned away before it.
local function come_back(earliest)
  local at = math.max(queue, earliest)
  local horizon = math.max(tat, at + interval)
  redis.call('HSET', KEYS[2], 'tat', string.format('%.0f', tat),
             'queue', string.format('%.0f', at + interval))
  redis.call('PEXPIRE', KEYS[2], math.ceil((horizon - now) / 1000) + 1000)
  return {0, math.ceil(at - now), degraded, now}
end

local paused_until = tonumber(cfg[3])
if paused_until and paused_until * 1000000 > now then
  return come_back(paused_until * 1000000)
end

local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
if wait > cap then
  -- The slot would be beyond the cap: come back when it fits under the cap.
  return come_back(now + wait - cap)
end

redis.call('HSET', KEYS[2], 'tat', string.format('%.0f', new_tat))
redis.call('PEXPIRE', KEYS[2], math.ceil((math.max(new_tat, queue) - now) / 1000) + 1000)
return {1, math.ceil(wait), degraded, now, math.floor(interval)}
