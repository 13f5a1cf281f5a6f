-- verify_link.lua: the send path took send n of a verification: link it (VerifyStore.link).
-- KEYS[1] verification hash, KEYS[2] stats hash, KEYS[3] owed-conversions zset
-- ARGV[1] send number n, ARGV[2] the send's request id, ARGV[3] send n's code HMAC (hex;
-- "" for the first send, whose HMAC verify_start.lua stored), ARGV[4] key prefix of the
-- send path's PIN keys
-- Returns 'linked' (n's code is the one a check accepts now), 'stale' (a later send's code
-- is current already: n's is never accepted), 'ended' (no longer pending: linked, no code)
-- or 'missing'. Linking again what is linked answers the same, changing nothing.
-- Linking a resend confirms it: its HMAC replaces the current one (its reservation stored
-- it as next_hash already, see verify_reserve.lua, which is dropped now unless a later
-- resend has reserved since), and the earlier sends' PINs are deleted from the send path,
-- so one still waiting for a retry is never delivered (it ends expired_before_send) and no
-- earlier code stays in Redis.
-- A send linked after its verification ended (a check approved or locked it, or it
-- expired, between the reservation and here) was not among the sends the end reported:
-- its PIN is deleted (a worker that has not claimed it yet never sends it) and the
-- verification is owed again; the conv:<n> marks of the sends reported already keep them
-- from being reported twice, so only this one is.
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local n = tonumber(ARGV[1])
local before = redis.call('HGET', KEYS[1], 'send:' .. ARGV[1])
redis.call('HSET', KEYS[1], 'send:' .. ARGV[1], ARGV[2])
if n == 1 and not before then redis.call('HINCRBY', KEYS[2], 'verify:started', 1) end
local v = redis.call('HMGET', KEYS[1], 'state', 'code_send', 'next_send', 'id')
if v[1] ~= 'pending' then
  redis.call('DEL', ARGV[4] .. ARGV[2])
  if redis.call('HEXISTS', KEYS[1], 'conv:' .. ARGV[1]) == 0 then
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[3], tonumber(t[1]) + tonumber(t[2]) / 1e6, v[4])
  end
  return 'ended'
end
if tonumber(v[2]) == n then return 'linked' end
if tonumber(v[2]) > n or ARGV[3] == '' then
  redis.call('DEL', ARGV[4] .. ARGV[2])
  return 'stale'
end
redis.call('HSET', KEYS[1], 'hash', ARGV[3], 'code_send', ARGV[1])
if v[3] and tonumber(v[3]) <= n then redis.call('HDEL', KEYS[1], 'next_hash', 'next_send') end
for i = 1, n - 1 do
  local rid = redis.call('HGET', KEYS[1], 'send:' .. i)
  if rid then redis.call('DEL', ARGV[4] .. rid) end
end
return 'linked'
