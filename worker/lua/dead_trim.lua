-- dead_trim.lua: keep one dead-letter set within its bounds (DeadLetters.add and .trim).
-- KEYS[1] the dead-letter zset (member -> unix time), KEYS[2] its detail hash or ""
-- ARGV[1] members older than this (unix s) go, ARGV[2] cap: members kept at most (the newest),
-- ARGV[3] most members dropped in one call, so that no call holds Redis for long (the rest go
-- on the next call)
-- Returns how many members were dropped (with their detail).
local n = math.max(redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1]),
  redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2]))
n = math.min(n, tonumber(ARGV[3]))
if n <= 0 then return 0 end
if KEYS[2] ~= '' then
  redis.call('HDEL', KEYS[2], unpack(redis.call('ZRANGE', KEYS[1], 0, n - 1)))
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
return n
