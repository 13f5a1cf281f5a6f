-- callback_watch.lua: find watched records that reached a state their callback has not told yet
-- (worker.callbacks.watch.SettleWatch.sweep).
-- KEYS[1] watch zset (id -> when to look next, unix s)
-- ARGV[1] now (unix s), ARGV[2] record key prefix (prefix .. 'req:'), ARGV[3] name of the
-- state field, ARGV[4] space-separated states that end watching, ARGV[5] space-separated
-- states that are told but keep watching, ARGV[6] limit, ARGV[7] lease (s), ARGV[8] shortest
-- and ARGV[9] longest pause between looks (s)
-- Returns {id1, state1, id2, state2, ...}: the callbacks to deliver now.
-- A returned id is leased (looked at again after the lease) so a delivery task that is lost
-- is published again; the delivery itself moves it on (callback_outcome.lua). A record that
-- is gone, or has no callback_url, leaves the set. Young records are looked at often, old
-- ones rarely (a tenth of their age, within the two bounds).
local now = tonumber(ARGV[1])
local function set_of(text)
  local out = {}
  for word in string.gmatch(text, '%S+') do out[word] = true end
  return out
end
local ending, telling = set_of(ARGV[4]), set_of(ARGV[5])
local lease, shortest, longest = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
local out = {}
for _, id in ipairs(ids) do
  local cur = redis.call('HMGET', ARGV[2] .. id, ARGV[3], 'callback_url', 'callback_state', 'created_at')
  local state = cur[1]
  if not state or not cur[2] then
    redis.call('ZREM', KEYS[1], id)
  elseif (ending[state] or telling[state]) and state ~= cur[3] then
    out[#out + 1] = id
    out[#out + 1] = state
    redis.call('ZADD', KEYS[1], now + lease, id)
  else
    local age = now - (tonumber(cur[4]) or now)
    redis.call('ZADD', KEYS[1], now + math.min(longest, math.max(shortest, age / 10)), id)
  end
end
return out
