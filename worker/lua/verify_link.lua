-- verify_link.lua: the send path took send n of a verification: link it (VerifyStore.link).
-- KEYS[1] verification hash, KEYS[2] stats hash
-- ARGV[1] send number n, ARGV[2] the send's request id, ARGV[3] send n's code HMAC (hex),
-- or "" for the first send (whose HMAC verify_start.lua stored), ARGV[4] key prefix of the
-- send path's PIN keys
-- Returns 'linked' (n's code is the one a check accepts now), 'stale' (a later send's code
-- is already current), 'ended' (no longer pending: linked, no code) or 'missing'.
-- Linking a resend invalidates the earlier codes: its HMAC replaces theirs, and the earlier
-- sends' PINs are deleted from the send path, so one still waiting for a retry is never
-- delivered (it ends expired_before_send) and no earlier code stays in Redis.
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local n = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'send:' .. ARGV[1], ARGV[2])
if n == 1 then redis.call('HINCRBY', KEYS[2], 'verify:started', 1) end
local v = redis.call('HMGET', KEYS[1], 'state', 'code_send')
if v[1] ~= 'pending' then
  redis.call('DEL', ARGV[4] .. ARGV[2])
  return 'ended'
end
if ARGV[3] == '' then return 'linked' end
if n <= tonumber(v[2]) then
  redis.call('DEL', ARGV[4] .. ARGV[2])
  return 'stale'
end
redis.call('HSET', KEYS[1], 'hash', ARGV[3], 'code_send', ARGV[1])
for i = 1, n - 1 do
  local rid = redis.call('HGET', KEYS[1], 'send:' .. i)
  if rid then redis.call('DEL', ARGV[4] .. rid) end
end
return 'linked'
