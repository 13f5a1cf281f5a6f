-- create.lua: store a new send (RecordStore.create / create_many) in one atomic step.
-- requires: prelude
-- KEYS[1] record hash, KEYS[2] idempotency key or "", KEYS[3] PIN key,
-- KEYS[4] client-ref index key or "", KEYS[5] pending set, KEYS[6] broker queue list or ""
-- ARGV[1] record TTL (s), ARGV[2] request id, ARGV[3] PIN, ARGV[4] PIN TTL (ms),
-- ARGV[5] task message or "", ARGV[6..] field, value, ... of the record
-- Returns {1, id} when stored; {0, earlier id} for a known idempotency key or request id.
-- The PIN has its own key that expires with the request, so no PIN outlives its usefulness.
-- A caller's client-ref is indexed so a receipt for a send with no message-id yet (unconfirmed,
-- or overtaking the worker) can still find it: every send with it (the newest CLIENT_REF_HOLDERS),
-- as the receipt's number and message-id decide between them. A client-ref reused while a send
-- with it is open is counted (stats `client_ref_reused`). With a queue, the task message (kombu's
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
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if KEYS[4] ~= '' then
  local prefix = KEYS[5]:sub(1, #KEYS[5] - #K_PENDING)
  for _, other in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
    local state = redis.call('HGET', prefix .. K_REC .. other, 'state')
    if state and not FINAL[state] then count(prefix, 'client_ref_reused') break end
  end
  redis.call('ZADD', KEYS[4], now, ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(CLIENT_REF_HOLDERS + 1))
  redis.call('EXPIRE', KEYS[4], ARGV[1])
end
redis.call('ZADD', KEYS[5], now, ARGV[2])
if KEYS[6] ~= '' then redis.call('LPUSH', KEYS[6], ARGV[5]) end
return {1, ARGV[2]}
