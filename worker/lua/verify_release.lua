-- verify_release.lua: the send path refused send n of a verification (VerifyStore.release).
-- KEYS[1] verification hash, KEYS[2] due zset
-- ARGV[1] send number n, ARGV[2] verification id
-- Returns 'removed' (n was the first send: the verification is gone, the caller got an
-- error and no id), 'released' (the slot is free again) or 'kept' (a later resend took a
-- slot meanwhile; n's stays used).
-- Only for a refusal known to come before the send path stored anything (a bad request, an
-- abuse limit): the code never left this process. n's HMAC (next_hash) goes with its slot.
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 'removed'
end
if redis.call('HGET', KEYS[1], 'next_send') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'next_hash', 'next_send')
end
if redis.call('HGET', KEYS[1], 'sends') == ARGV[1] then
  redis.call('HINCRBY', KEYS[1], 'sends', -1)
  return 'released'
end
return 'kept'
