-- Change a campaign's state when it is in one of the allowed states; on resume, hand back the
-- jobs parked while it was paused (the caller publishes them).
-- KEYS: campaign, parked set of the campaign, held set of the caller, active campaigns set
-- ARGV: allowed states (comma separated), new state, reason, campaign id
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {0, 'missing'} end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == state then allowed = true end
end
if not allowed then return {0, state} end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[3])
local out = {1, state}
if ARGV[2] == 'running' then
  redis.call('SADD', KEYS[4], ARGV[4])
  local ids = redis.call('SMEMBERS', KEYS[2])
  if #ids > 0 then redis.call('SADD', KEYS[3], unpack(ids)) end
  redis.call('DEL', KEYS[2])
  for _, id in ipairs(ids) do table.insert(out, id) end
end
return out
