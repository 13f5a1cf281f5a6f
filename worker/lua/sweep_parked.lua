-- sweep_parked.lua: give up on parked receipts past the grace period (Correlator.sweep).
-- requires: prelude
-- KEYS: none (keys are built from the prefix)
-- ARGV[1] key prefix, ARGV[2] parked before (unix s), ARGV[3] limit (message-ids),
-- ARGV[4] dead-letter cap
-- Returns how many receipts moved to the receipts dead letters (reason 'unmatched'): those
-- for a message-id no send got in time, so never applied, whatever send gets it later.
local prefix = ARGV[1]
DEAD_CAP = tonumber(ARGV[4])
local mids = redis.call('ZRANGEBYSCORE', prefix .. K_PARKED, '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local moved = 0
for _, mid in ipairs(mids) do
  local list = prefix .. K_PARKED_LIST .. mid
  local parked = redis.call('LRANGE', list, 0, -1)
  for j, raw in ipairs(parked) do
    local ok, r = pcall(cjson.decode, raw)
    dead_receipt(prefix, 'unmatched', mid, entry_of(ok and r, tostring(j)), raw)
    moved = moved + 1
  end
  redis.call('DEL', list)
  redis.call('ZREM', prefix .. K_PARKED, mid)
end
return moved
