-- Write the accepted rows of a campaign being created, dropping duplicates and opted-out
-- numbers in the same step. Job numbers are given out here, so they stay contiguous (1..jobs)
-- whatever is dropped. Job keys are built from a prefix (standalone Redis, like the job walk).
-- KEYS: campaign hash, seen set of the campaign, global suppression set
-- ARGV: job key prefix ('<p>:job:<campaign>.'), payload field name ('v' values, 'p' message),
--       then per row: recipient, payload ('' = none)
-- Returns one character per row: 'a' accepted, 'd' duplicate, 's' suppressed.
local n = tonumber(redis.call('HGET', KEYS[1], 'jobs') or '0')
local flags = {}
local added = 0
for i = 3, #ARGV, 2 do
  local to = ARGV[i]
  if redis.call('SISMEMBER', KEYS[3], to) == 1 then
    flags[#flags + 1] = 's'
  elseif redis.call('SADD', KEYS[2], to) == 0 then
    flags[#flags + 1] = 'd'
  else
    n = n + 1
    added = added + 1
    if ARGV[i + 1] == '' then
      redis.call('HSET', ARGV[1] .. n, 'st', 'queued', 'to', to)
    else
      redis.call('HSET', ARGV[1] .. n, 'st', 'queued', 'to', to, ARGV[2], ARGV[i + 1])
    end
    flags[#flags + 1] = 'a'
  end
end
redis.call('HSET', KEYS[1], 'jobs', n)
redis.call('HINCRBY', KEYS[1], 'n:queued', added)
return table.concat(flags)
