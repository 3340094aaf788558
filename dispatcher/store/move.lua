-- Move a job from one of the allowed statuses to another, with the campaign counters in the
-- same atomic step, and extra fields set on the job.
-- KEYS: job, campaign, history list, due zset, parked set, exceptions-set prefix,
--       provider-message-id index prefix (one hash per UTC day: provider id -> job id)
-- ARGV: allowed statuses (comma separated), new status, delay seconds ('' = none), note,
--       job id, then field/value pairs.
local status = redis.call('HGET', KEYS[1], 'st')
if not status then return {0, 'missing'} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == status then allowed = true end
end
if not allowed then return {0, status} end
local to = ARGV[2]
local t = redis.call('TIME')
local now_num = tonumber(t[1]) + tonumber(t[2]) / 1e6
local now = string.format('%.3f', now_num)
redis.call('HSET', KEYS[1], 'st', to, 'tu', now)
for i = 6, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if to == 'sent' then
  redis.call('HSET', KEYS[1], 'ts', now)
  local pid = redis.call('HGET', KEYS[1], 'pid')
  if pid and pid ~= '' then
    local day = KEYS[7] .. math.floor(now_num / 86400)
    redis.call('HSET', day, pid, ARGV[5])
    redis.call('EXPIRE', day, 35 * 86400)
  end
end
if ARGV[3] ~= '' then
  local due = now_num + tonumber(ARGV[3])
  redis.call('ZADD', KEYS[4], due, ARGV[5])
  redis.call('HSET', KEYS[1], 'due', string.format('%.3f', due))
end
if to == 'parked' then
  -- not a status: a queued job held back while its campaign is paused
  redis.call('HSET', KEYS[1], 'st', 'queued')
  redis.call('SADD', KEYS[5], ARGV[5])
  to = 'queued'
end
if status ~= to then
  redis.call('HSET', KEYS[2], 'tp', now)
  redis.call('HINCRBY', KEYS[2], 'n:' .. status, -1)
  redis.call('HINCRBY', KEYS[2], 'n:' .. to, 1)
  if status == 'failed' or status == 'unknown' then
    redis.call('SREM', KEYS[6] .. status, ARGV[5])
  end
  if to == 'failed' or to == 'unknown' then
    redis.call('SADD', KEYS[6] .. to, ARGV[5])
  end
end
local line = now .. ' ' .. to
if ARGV[4] ~= '' then line = line .. ' ' .. ARGV[4] end
redis.call('RPUSH', KEYS[3], line)
return {1, status}
