-- rate_pause.lua: hold every sender off (RedisTokenBucket.pause).
-- KEYS[1] pause key
-- ARGV[1] pause (ms)
-- Returns the unix ms until which nobody sends (an existing longer pause is kept).
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilms > cur then redis.call('SET', KEYS[1], untilms, 'PX', ARGV[1]) end
return untilms
