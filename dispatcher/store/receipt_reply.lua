-- Record a batch of users' button/list replies: one current choice per job (the latest by the
-- provider's timestamp, then by reply id), counted per option in the campaign hash
-- (r:<option id> = count, rt:<option id> = title, replied = jobs with a reply).
-- A replayed reply (same reply id) changes nothing.
-- KEYS: job key prefix, campaign key prefix, history key prefix, provider-id index prefix
-- ARGV: groups of 5: context id (the message we sent), reply id, option id, option title,
--       provider timestamp
-- Returns {applied, ignored, missing}.
local t = redis.call('TIME')
local now_num = tonumber(t[1]) + tonumber(t[2]) / 1e6
local now = string.format('%.3f', now_num)
local today = math.floor(now_num / 86400)
local applied, ignored, missing = 0, 0, 0

local function find_job(pid)
  if pid == '' then return nil end
  for day = today, today - 34, -1 do
    local found = redis.call('HGET', KEYS[4] .. day, pid)
    if found then return found end
  end
  return nil
end

local function newer(ts, rid, old_ts, old_rid)
  if not old_rid then return true end
  if rid == old_rid then return false end
  local a, b = tonumber(ts) or 0, tonumber(old_ts) or 0
  if a ~= b then return a > b end
  return rid > old_rid
end

for i = 1, #ARGV, 5 do
  local rid, option, title, ts = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local job_id = find_job(ARGV[i])
  local jkey = job_id and KEYS[1] .. job_id
  local cid = jkey and redis.call('EXISTS', jkey) == 1 and string.match(job_id, '^(.*)%.%d+$')
  if not cid then
    missing = missing + 1
  else
    local old = redis.call('HMGET', jkey, 'rid', 'rop', 'rts')
    if not newer(ts, rid, old[3], old[1]) then
      ignored = ignored + 1
    else
      applied = applied + 1
      local ckey = KEYS[2] .. cid
      if old[2] then
        redis.call('HINCRBY', ckey, 'r:' .. old[2], -1)
      else
        redis.call('HINCRBY', ckey, 'replied', 1)
      end
      redis.call('HINCRBY', ckey, 'r:' .. option, 1)
      redis.call('HSET', ckey, 'rt:' .. option, title)
      redis.call('HSET', jkey, 'rid', rid, 'rop', option, 'rti', title, 'rts', ts)
      redis.call('RPUSH', KEYS[3] .. job_id, now .. ' reply ' .. option)
    end
  end
end
return {applied, ignored, missing}
