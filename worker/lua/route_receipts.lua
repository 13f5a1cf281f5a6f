-- route_receipts.lua: final receipts into each route's delivery success rate (RouteHealth.record).
-- requires: prelude
-- KEYS: none (keys are built from the prefixes)
-- ARGV[1] key prefix, ARGV[2] route key prefix ({prefix}route:), ARGV[3] now (unix s),
-- ARGV[4] window (receipts), ARGV[5] receipts needed before judging, ARGV[6] lowest healthy
-- rate, ARGV[7..] message-id, outcome (1 delivered, 0 failed/rejected/expired/unknown), ...
-- Returns how many receipts were counted.
-- The send's record says which route sent it; each route keeps its last ARGV[4] outcomes in a
-- list and their sums in its hash, and turns `degraded` when, over at least ARGV[5] receipts,
-- the delivered share is below ARGV[6] (back to `healthy` once it is not).
local prefix, rk, now = ARGV[1], ARGV[2], ARGV[3]
local size, needed, lowest = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local counted = 0
for i = 7, #ARGV - 1, 2 do
  local rid = redis.call('GET', prefix .. K_MSG .. ARGV[i])
  local route = rid and redis.call('HGET', prefix .. K_REC .. rid, 'route')
  if route then
    local key, list = rk .. route, rk .. route .. ':window'
    local ok = ARGV[i + 1] == '1' and '1' or '0'
    redis.call('LPUSH', list, ok)
    redis.call('HINCRBY', key, 'window_n', 1)
    redis.call('HINCRBY', key, 'window_ok', ok)
    if redis.call('LLEN', list) > size then
      local dropped = redis.call('RPOP', list)
      redis.call('HINCRBY', key, 'window_n', -1)
      if dropped == '1' then redis.call('HINCRBY', key, 'window_ok', -1) end
    end
    local h = redis.call('HMGET', key, 'window_n', 'window_ok', 'health')
    local n, good = tonumber(h[1]), tonumber(h[2])
    local health = 'healthy'
    if n >= needed and good / n < lowest then health = 'degraded' end
    if health ~= (h[3] or 'healthy') then
      redis.call('HSET', key, 'health', health, 'health_changed_at', now)
    end
    counted = counted + 1
  end
end
return counted
