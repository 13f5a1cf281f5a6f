-- rate_pause.lua: hold every sender off (RedisTokenBucket.pause).
-- KEYS[1] bucket hash (its `pause_until` field, read by take_token in the prelude)
-- ARGV[1] pause (ms)
-- Returns the unix ms until which nobody sends (an existing longer pause is kept).
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'pause_until') or '0')
if untilms > cur then redis.call('HSET', KEYS[1], 'pause_until', tostring(untilms)) return untilms end
return cur
