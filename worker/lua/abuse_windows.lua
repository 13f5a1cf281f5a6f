-- abuse_windows.lua: the sliding-window sending limits, counted and checked in one step
-- (AbuseGuard).
-- KEYS[1] per-number zset, KEYS[2] per-prefix zset[, KEYS[3] idempotency key]
-- ARGV[1] now (unix ms), ARGV[2] member (unique per send), ARGV[3] per-number limit in 10
-- minutes, ARGV[4] per-number limit per day, ARGV[5] per-prefix limit per minute (0 = off)
-- Returns 'ok' (counted), 'repeat:<request id>', or the limit hit: 'number_day',
-- 'number_10min', 'prefix_minute'.
-- A repeat of a known idempotency key answers 'repeat:<request id>' and counts nothing.
if KEYS[3] and KEYS[3] ~= '' then
  local earlier = redis.call('GET', KEYS[3])
  if earlier then return 'repeat:' .. earlier end
end
local now = tonumber(ARGV[1])
local function used(key, window_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  return redis.call('ZCOUNT', key, now - window_ms, '+inf')
end
local n10, nday, npfx = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if n10 > 0 or nday > 0 then
  if nday > 0 and used(KEYS[1], 86400000) >= nday then return 'number_day' end
  if n10 > 0 then
    if redis.call('ZCOUNT', KEYS[1], now - 600000, '+inf') >= n10 then return 'number_10min' end
  end
end
if npfx > 0 and used(KEYS[2], 60000) >= npfx then return 'prefix_minute' end
if n10 > 0 or nday > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 86400000)
end
if npfx > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[2], 60000)
end
return 'ok'
