-- verify_owed.lua: take ended verifications whose conversions are to be reported (VerifyStore.owed).
-- KEYS[1] owed-conversions zset (ended verification id -> when its reports are due)
-- ARGV[1] lease (s), ARGV[2] how many due ones to take at most (0: only the ids given: a
-- producer may not list the owed ids), ARGV[3..] ids wanted first
-- Returns the verification ids this caller reports now.
-- Each id taken is leased (its score moves the lease ahead) rather than removed: another
-- caller takes it only if this one died before it enqueued the reports and removed the id.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local taken, seen = {}, {}
local function take(id)
  if seen[id] then return end
  seen[id] = true
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= now then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
    taken[#taken + 1] = id
  end
end
for i = 3, #ARGV do take(ARGV[i]) end
if ARGV[2] ~= '0' then -- the sweep (a worker): a producer's Redis role may not list the owed ids
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])) do take(id) end
end
return taken
