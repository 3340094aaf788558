-- Pair limit: at most one message per interval to one recipient of one sender.
--
-- KEYS[1]  <prefix>:rl:{sender}:pair:<recipient>
-- ARGV[1]  interval in milliseconds
--
-- Returns 0 when the slot was taken now (the key is set with PX = interval), otherwise the
-- milliseconds until the recipient may be sent to again (nothing taken).

if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  -- A key without expiry would block the recipient for ever: repair it.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
if ttl < 1 then ttl = 1 end
return ttl
