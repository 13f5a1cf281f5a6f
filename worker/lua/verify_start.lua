-- verify_start.lua: store a new verification with its first code's HMAC (VerifyStore.start).
-- KEYS[1] verification hash, KEYS[2] due zset (pending verification id -> expires_at)
-- ARGV[1] record TTL (s), ARGV[2] code TTL (s), ARGV[3] verification id,
-- ARGV[4..] field, value, ... of the record (to, client_ref, length, limits, hash)
-- Returns {1, created_at, expires_at} when stored; {0} when the id exists already.
-- Times come from Redis's clock, so one clock decides every expiry whichever host checks.
-- The record holds the first send's slot (sends = 1, code_send = 1) and that code's HMAC,
-- never the code; verify_link.lua links the send's request id once the send path took it.
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local expires = now + tonumber(ARGV[2])
local created_at, expires_at = string.format('%.3f', now), string.format('%.3f', expires)
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'state', 'pending', 'attempts', '0', 'sends', '1',
  'code_send', '1', 'created_at', created_at, 'expires_at', expires_at)
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], expires, ARGV[3])
return {1, created_at, expires_at}
