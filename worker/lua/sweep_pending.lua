-- sweep_pending.lua: find the sends whose task was lost (RecordStore.lost_tasks).
-- requires: prelude
-- KEYS: none (keys are built from the prefix)
-- ARGV[1] key prefix, ARGV[2] now (unix s), ARGV[3] cutoff (unix s), ARGV[4] limit
-- Returns the request ids to republish.
-- Sends whose task has been out since before the cutoff with nobody finishing it (queued
-- and never claimed, or claimed by a worker that vanished with its task) are returned,
-- re-stamped so each is republished at most once per grace period. Anything settled leaves
-- the set. A claim does not re-stamp its send (one write less per attempt): a claimed send
-- counts from its `sending_at`, and one claimed after the cutoff is re-stamped to it instead.
local prefix, now, cutoff = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', prefix .. K_PENDING, '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
local out = {}
for _, rid in ipairs(ids) do
  local r = redis.call('HMGET', prefix .. K_REC .. rid, 'state', 'sending_at')
  local state, claimed = r[1], tonumber(r[2] or '')
  if state == 'sending' and claimed and claimed > cutoff then
    redis.call('ZADD', prefix .. K_PENDING, claimed, rid)
  elseif state == 'sending' or (state == 'queued' and redis.call('EXISTS', prefix .. K_PIN .. rid) == 1) then
    redis.call('ZADD', prefix .. K_PENDING, now, rid)
    out[#out + 1] = rid
  else
    redis.call('ZREM', prefix .. K_PENDING, rid)
  end
end
return out
