-- verify_expire.lua: end the verifications whose code ran out (VerifyStore.expire).
-- KEYS[1] due zset, KEYS[2] owed-conversions zset, KEYS[3] stats hash
-- ARGV[1] key prefix of verification hashes, ARGV[2] key prefix of the send path's PIN keys,
-- ARGV[3] how many due ones to take at most (0: only the ids given: a producer may not list
-- the due ids), ARGV[4..] verification ids to look at first
-- Returns the ids of the verifications this call ended as expired.
-- The sweep behind a check: a verification nobody checks again still ends, and its sends
-- are still reported as conversions (delivered=false). Ending drops the HMACs and the sends'
-- PINs, as verify_check.lua does. Anything no longer pending leaves the due list.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local at = string.format('%.3f', now)
local ids = {}
for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
if ARGV[3] ~= '0' then -- the sweep (a worker): a producer's Redis role may not list the due ids
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])) do
    ids[#ids + 1] = id
  end
end
local ended = {}
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local v = redis.call('HMGET', key, 'state', 'expires_at', 'sends')
  if v[1] == 'pending' and now >= tonumber(v[2]) then
    redis.call('HSET', key, 'state', 'expired', 'ended_at', at)
    redis.call('HDEL', key, 'hash', 'next_hash', 'next_send')
    redis.call('ZADD', KEYS[2], now, id)
    redis.call('HINCRBY', KEYS[3], 'verify:expired', 1)
    for i = 1, tonumber(v[3]) do
      local rid = redis.call('HGET', key, 'send:' .. i)
      if rid then redis.call('DEL', ARGV[2] .. rid) end
    end
    ended[#ended + 1] = id
  end
  if v[1] ~= 'pending' or now >= tonumber(v[2]) then redis.call('ZREM', KEYS[1], id) end
end
return ended
