-- verify_check.lua: record one check of a code against a verification (VerifyStore.check).
-- KEYS[1] verification hash, KEYS[2] due zset, KEYS[3] owed-conversions zset, KEYS[4] stats hash
-- ARGV[1] the stored HMAC the code's HMAC matched (hmac.compare_digest, in Python): the
-- current code's (hash) or the reserved resend's (next_hash); "" when it matched neither,
-- ARGV[2] key prefix of the send path's PIN keys, ARGV[3..] upper bounds (s, ascending) of
-- the start-to-approval histogram kept in the stats hash (verify:approval_le:<bound>, +Inf
-- past the last; verify:approval_sum)
-- Returns {status, attempts left, '1' when this check ended the verification else '0'};
-- status is approved, wrong_code, expired, locked, used (approved before) or unknown.
-- Every failed check counts, atomically, here: two concurrent wrong codes are two attempts,
-- and two concurrent right codes approve once (the second answers 'used'). A match against
-- an HMAC that a resend replaced meanwhile is a wrong code. Ending a verification (approved,
-- locked, expired) drops its HMACs and its sends' PINs, takes it off the due list and puts it
-- on the owed-conversions list.
-- An unknown id does the Redis work of a wrong code (read, TIME, one HINCRBY: of the
-- verify:checks_unknown counter), so timing does not tell it from a pending verification.
local v = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'attempts', 'max_attempts', 'hash',
  'code_send', 'sends', 'id', 'created_at', 'next_hash', 'next_send')
if not v[1] then
  redis.call('TIME')
  redis.call('HINCRBY', KEYS[4], 'verify:checks_unknown', 1)
  return {'unknown', '0', '0'}
end
local left = tonumber(v[4]) - tonumber(v[3])
if v[1] == 'approved' then return {'used', tostring(left), '0'} end
if v[1] ~= 'pending' then return {v[1], '0', '0'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local at = string.format('%.3f', now)

local function finish(state, approved_send)
  redis.call('HSET', KEYS[1], 'state', state, 'ended_at', at)
  if state == 'approved' then
    redis.call('HSET', KEYS[1], 'approved_at', at, 'approved_send', approved_send)
    local took = math.max(0, now - tonumber(v[9]))
    local bound = '+Inf'
    for i = 3, #ARGV do
      if took <= tonumber(ARGV[i]) then bound = ARGV[i]; break end
    end
    redis.call('HINCRBY', KEYS[4], 'verify:approval_le:' .. bound, 1)
    redis.call('HINCRBYFLOAT', KEYS[4], 'verify:approval_sum', string.format('%.3f', took))
  end
  redis.call('HDEL', KEYS[1], 'hash', 'next_hash', 'next_send')
  redis.call('ZREM', KEYS[2], v[8])
  redis.call('ZADD', KEYS[3], now, v[8])
  redis.call('HINCRBY', KEYS[4], 'verify:' .. state, 1)
  for i = 1, tonumber(v[7]) do
    local rid = redis.call('HGET', KEYS[1], 'send:' .. i)
    if rid then redis.call('DEL', ARGV[2] .. rid) end
  end
end

if now >= tonumber(v[2]) then
  finish('expired')
  return {'expired', '0', '1'}
end
local matched = nil
if ARGV[1] ~= '' and ARGV[1] == v[5] then matched = v[6] end
if ARGV[1] ~= '' and not matched and ARGV[1] == v[10] then matched = v[11] end
if matched then
  finish('approved', matched)
  return {'approved', tostring(left), '1'}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
left = tonumber(v[4]) - attempts
if left <= 0 then
  finish('locked')
  return {'locked', '0', '1'}
end
return {'wrong_code', tostring(left), '0'}
