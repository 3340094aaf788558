-- Cancel the jobs of a cancelled campaign that are waiting (queued, parked or due for a retry),
-- each a compare-and-set with the counters, so a worker's claim of the same job cannot count
-- it twice. Jobs being sent finish with their outcome.
-- KEYS: campaign hash, due zset, parked set of the campaign
-- ARGV: job key prefix, history key prefix, campaign id, first job number, last job number
local t = redis.call('TIME')
local now = string.format('%d.%03d', t[1], math.floor(t[2] / 1000))
local cancelled = 0
for n = tonumber(ARGV[4]), tonumber(ARGV[5]) do
  local key = ARGV[1] .. n
  local st = redis.call('HGET', key, 'st')
  if st == 'queued' or st == 'retrying' then
    local id = ARGV[3] .. '.' .. n
    redis.call('HSET', key, 'st', 'cancelled', 'tu', now)
    redis.call('HINCRBY', KEYS[1], 'n:' .. st, -1)
    redis.call('HINCRBY', KEYS[1], 'n:cancelled', 1)
    redis.call('ZREM', KEYS[2], id)
    redis.call('SREM', KEYS[3], id)
    redis.call('RPUSH', ARGV[2] .. n, now .. ' cancelled')
    cancelled = cancelled + 1
  end
end
if cancelled > 0 then redis.call('HSET', KEYS[1], 'tp', now) end
return cancelled
