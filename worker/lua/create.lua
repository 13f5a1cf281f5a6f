-- create.lua: store a new send (RecordStore.create / create_many) in one atomic step.
-- KEYS[1] record hash, KEYS[2] idempotency key or "", KEYS[3] PIN key,
-- KEYS[4] client-ref index key or "", KEYS[5] pending set, KEYS[6] broker queue list or ""
-- ARGV[1] record TTL (s), ARGV[2] request id, ARGV[3] PIN, ARGV[4] PIN TTL (ms),
-- ARGV[5] task message or "", ARGV[6..] field, value, ... of the record
-- Returns {1, id} when stored; {0, earlier id} for a known idempotency key or request id.
-- The PIN has its own key that expires with the request, so no PIN outlives its usefulness.
-- A caller's client-ref is indexed (first holder wins) so a receipt for an unconfirmed send,
-- which has no message-id yet, can still find it. With a queue, the task message (kombu's
-- Redis format) is pushed in the same step: a record never exists without its task, and a
-- repeat of an idempotency key pushes nothing.
if KEYS[2] ~= '' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {0, existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ARGV[2]} end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1]) end
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[2], 'NX', 'EX', ARGV[1]) end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[5], tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[2])
if KEYS[6] ~= '' then redis.call('LPUSH', KEYS[6], ARGV[5]) end
return {1, ARGV[2]}
