-- sweep_parked.lua: give up on parked receipts past the grace period (Correlator.sweep).
-- requires: prelude
-- KEYS: none (keys are built from the prefix)
-- ARGV[1] key prefix, ARGV[2] parked before (unix s), ARGV[3] limit (message-ids)
-- Returns how many receipts moved to unmatched (and the receipts dead-letter set).
local prefix = ARGV[1]
local mids = redis.call('ZRANGEBYSCORE', prefix .. K_PARKED, '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local moved = 0
for _, mid in ipairs(mids) do
  local list = prefix .. K_PARKED_LIST .. mid
  local parked = redis.call('LRANGE', list, 0, -1)
  for j, raw in ipairs(parked) do
    local ok, r = pcall(cjson.decode, raw)
    local member = mid .. ':' .. ((ok and type(r) == 'table' and r['_entry']) or j)
    redis.call('HSET', prefix .. K_UNMATCHED, member, raw)
    redis.call('ZADD', prefix .. K_DEAD .. 'receipts', ARGV[2], member)
    count(prefix, 'receipts_unmatched')
    moved = moved + 1
  end
  redis.call('DEL', list)
  redis.call('ZREM', prefix .. K_PARKED, mid)
end
return moved
