-- Apply a batch of delivery statuses from the provider's webhooks, idempotently and never
-- backwards (sent -> delivered -> read; failed only before delivery), with the campaign
-- counters changed in the same step.
-- KEYS: job key prefix, campaign key prefix, history key prefix, exceptions-set key prefix
--       (<p>:cst:), provider-id index prefix (<p>:pid:)
-- ARGV: groups of 6: job id ('' = look it up by provider id), provider message id, status,
--       provider timestamp, error code, error text
-- Returns {applied, ignored (already there or later), missing (no such job)}.
local RANK = {queued = 0, sending = 0, retrying = 0, unknown = 0, sent = 1, delivered = 2,
              read = 3}
local t = redis.call('TIME')
local now_num = tonumber(t[1]) + tonumber(t[2]) / 1e6
local now = string.format('%.3f', now_num)
local today = math.floor(now_num / 86400)
local applied, ignored, missing = 0, 0, 0

local function find_job(job_id, pid)
  if job_id ~= '' and redis.call('EXISTS', KEYS[1] .. job_id) == 1 then return job_id end
  if pid == '' then return nil end
  for day = today, today - 34, -1 do
    local found = redis.call('HGET', KEYS[5] .. day, pid)
    if found then return found end
  end
  return nil
end

local function allowed(current, to)
  local from = RANK[current]
  if from == nil then return false end            -- failed, rejected, cancelled: final
  if to == 'failed' then                          -- never after delivered or read
    return current == 'sending' or current == 'unknown' or current == 'sent'
  end
  local rank = RANK[to]
  return rank ~= nil and rank > from
end

for i = 1, #ARGV, 6 do
  local pid, to, pts = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local job_id = find_job(ARGV[i], pid)
  local jkey = job_id and KEYS[1] .. job_id
  local current = jkey and redis.call('HGET', jkey, 'st')
  if not current then
    missing = missing + 1
  elseif not allowed(current, to) then
    ignored = ignored + 1
  else
    applied = applied + 1
    local cid = string.match(job_id, '^(.*)%.%d+$')  -- job ids are <campaign>.<n>
    local ckey = KEYS[2] .. cid
    redis.call('HSET', jkey, 'st', to, 'tu', now)
    if RANK[current] == 0 then
      redis.call('HSETNX', jkey, 'ts', now)
      local known = redis.call('HGET', jkey, 'pid')
      if pid ~= '' and (not known or known == '') then
        redis.call('HSET', jkey, 'pid', pid)
        local day = KEYS[5] .. today
        redis.call('HSET', day, pid, job_id)
        redis.call('EXPIRE', day, 35 * 86400)
      end
    end
    if to == 'delivered' then redis.call('HSET', jkey, 'td', pts) end
    if to == 'read' then redis.call('HSET', jkey, 'tr', pts) end
    if to == 'failed' then
      redis.call('HSET', jkey, 'ecl', 'delivery', 'eco', ARGV[i + 4], 'etx', ARGV[i + 5])
      redis.call('SADD', KEYS[4] .. cid .. ':failed', job_id)
    end
    if current == 'unknown' then redis.call('SREM', KEYS[4] .. cid .. ':unknown', job_id) end
    redis.call('HINCRBY', ckey, 'n:' .. current, -1)
    redis.call('HINCRBY', ckey, 'n:' .. to, 1)
    redis.call('HSET', ckey, 'tp', now)
    local line = now .. ' ' .. to .. ' webhook at ' .. pts
    if to == 'failed' then line = line .. ' error ' .. ARGV[i + 4] end
    redis.call('RPUSH', KEYS[3] .. job_id, line)
  end
end
return {applied, ignored, missing}
