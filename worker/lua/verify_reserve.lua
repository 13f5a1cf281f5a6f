-- verify_reserve.lua: take the slot of a resend before it goes to the send path (VerifyStore.reserve).
-- KEYS[1] verification hash
-- ARGV[1] the HMAC (hex) of the code this send will carry
-- Returns {'ok', n, to, seconds left, length, client_ref or ''} for send slot n; {'unknown'}; {'expired'} when still
-- pending but past expires_at (the caller ends it through verify_expire.lua); the state
-- ({'approved'}, {'locked'}, {'expired'}) once it ended; {'max_sends', sends} when every
-- send is used.
-- The new code's HMAC is stored now (next_hash, next_send = n), before the code goes to the
-- send path: from here until verify_link.lua confirms the send, a check accepts it as well
-- as the current code, so an SMS that arrives before the link is never a wrong code. The
-- link makes it the only one; a later reservation replaces it; a resend the send path
-- refuses leaves the verification as it was (verify_release.lua gives the slot back).
local v = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'sends', 'max_sends', 'to', 'length',
  'client_ref')
if not v[1] then return {'unknown'} end
if v[1] ~= 'pending' then return {v[1]} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if now >= tonumber(v[2]) then return {'expired'} end
if tonumber(v[3]) >= tonumber(v[4]) then return {'max_sends', v[3]} end
local n = redis.call('HINCRBY', KEYS[1], 'sends', 1)
redis.call('HSET', KEYS[1], 'next_hash', ARGV[1], 'next_send', n)
return {'ok', tostring(n), v[5], string.format('%.3f', tonumber(v[2]) - now), v[6], v[7] or ''}
