-- Claim a queued job for sending: the one compare-and-set that makes a send happen at most once.
-- KEYS: job, campaign, parked set of the campaign, history list[, recipient's pair slot]
-- ARGV: worker id, job id, claim id ('' = none), pair interval in ms (with the pair slot key)
-- Returns {1, attempts} when claimed, else {0, reason}: the job's status, 'paused', 'cancelled'
-- or 'pair:<ms>' (the recipient's pair slot is taken for that long; the job stays queued).
-- With a pair slot key, the claim takes the slot too (SET PX interval), in the same step as the
-- claim, right before the send: one round trip after the sender's token instead of two.
-- The claim id (unique per call) makes the claim safe to run twice: a client that resends the
-- script because Redis restarted before replying finds its own claim and goes on to send,
-- instead of leaving a job 'sending' that nobody sends.
local status = redis.call('HGET', KEYS[1], 'st')
if status == 'sending' and ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'ci') == ARGV[3] then
  return {1, redis.call('HGET', KEYS[1], 'att')}
end
if status ~= 'queued' then return {0, status or 'missing'} end
if KEYS[5] then
  local busy = redis.call('PTTL', KEYS[5])
  if busy > 0 then return {0, 'pair:' .. busy} end
end
local t = redis.call('TIME')
local now = string.format('%d.%03d', t[1], math.floor(t[2] / 1000))
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'paused' or state == 'creating' or state == 'scheduled' then
  redis.call('SADD', KEYS[3], ARGV[2])
  return {0, 'paused'}
end
if state == 'cancelled' then
  redis.call('HSET', KEYS[1], 'st', 'cancelled', 'tu', now)
  redis.call('HINCRBY', KEYS[2], 'n:queued', -1)
  redis.call('HINCRBY', KEYS[2], 'n:cancelled', 1)
  redis.call('RPUSH', KEYS[4], now .. ' cancelled')
  return {0, 'cancelled'}
end
if KEYS[5] then redis.call('SET', KEYS[5], '1', 'PX', ARGV[4]) end
local attempts = redis.call('HINCRBY', KEYS[1], 'att', 1)
redis.call('HSET', KEYS[1], 'st', 'sending', 'tl', now, 'tu', now, 'w', ARGV[1], 'ci', ARGV[3])
redis.call('HSETNX', KEYS[1], 't1', now)
redis.call('HINCRBY', KEYS[2], 'n:queued', -1)
redis.call('HINCRBY', KEYS[2], 'n:sending', 1)
redis.call('HSET', KEYS[2], 'tp', now)
redis.call('RPUSH', KEYS[4], now .. ' sending attempt ' .. attempts)
return {1, attempts}
