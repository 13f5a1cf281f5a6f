-- finish.lua: record the outcome of a send attempt (RecordStore.finish).
-- requires: prelude
-- KEYS[1] record hash, KEYS[2] PIN key
-- ARGV[1] key prefix, ARGV[2] now (unix s), ARGV[3] target state, ARGV[4] record TTL (s),
-- ARGV[5] provider message-id(s) or "" (a multi-part answer's ids comma-separated),
-- ARGV[6..] field, value, ... to write with the move
-- Returns {state after, parked receipts applied (as a string)}, or {'missing'}.
-- The move happens only if T allows it. With a message-id, the message-id index is set and
-- receipts that arrived before it (parked) are applied.
-- An `unconfirmed` send that turns out accepted leaves dead:sends. A 'price' field settles the
-- pumping guard's spend (guard:spend:<day>: the provider's price replaces the estimate).
-- The PIN is dropped once it can no longer be sent again; error/unconfirmed keep it until
-- it expires so that an operator may replay the send (as a new request), except for a
-- verification's send (idempotency key 'verify:<id>:<n>', VERIFY_IDEMPOTENCY_PREFIX in
-- worker/constants.py): it is never replayed, so its code leaves Redis at every end.
local prefix, now, target, ttl, mid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local r = redis.call('HMGET', KEYS[1], 'state', 'price_est', 'spend_day', 'price_settled')
local cur = r[1]
if not cur then return {'missing'} end
local fields = {'updated_at', now}
local price
for i = 6, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]; fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'price' then price = tonumber(ARGV[i + 1]) end
end
local moved = 0
if T[cur][target] then
  fields[#fields + 1] = 'state'; fields[#fields + 1] = target
  if FINAL[target] then fields[#fields + 1] = 'final_at'; fields[#fields + 1] = now end
  moved = 1
end
-- A refused move writes nothing (a late release must not decorate a delivered record),
-- except the facts of an acceptance that a receipt overtook.
-- The provider's price replaces the pumping guard's estimate in the day's spend, once per send.
if price and r[2] and r[3] and not r[4] and (moved == 1 or target == 'submitted') then
  local delta = price - (tonumber(r[2]) or 0)
  if delta ~= 0 then
    local spend = prefix .. 'guard:spend:' .. r[3]
    -- made now (an estimate of 0, or its 2 days passed): it gets the TTL guard.lua gives it
    if tonumber(redis.call('INCRBYFLOAT', spend, tostring(delta))) == delta then
      redis.call('EXPIRE', spend, 172800)
    end
  end
  fields[#fields + 1] = 'price_settled'; fields[#fields + 1] = '1'
end
if moved == 1 or target == 'submitted' then redis.call('HSET', KEYS[1], unpack(fields)) end
local keep_pin = target == 'queued' or target == 'error' or target == 'unconfirmed'
if keep_pin and target ~= 'queued' then
  local idem = redis.call('HGET', KEYS[1], 'idempotency_key')
  keep_pin = not (idem and string.sub(idem, 1, 7) == 'verify:')
end
if not keep_pin then redis.call('DEL', KEYS[2]) end
local rid = KEYS[1]:sub(#prefix + #K_REC + 1)
if moved == 1 and target == 'queued' then
  redis.call('ZADD', prefix .. K_PENDING, now, rid)
elseif moved == 1 then
  redis.call('ZREM', prefix .. K_PENDING, rid)
end
if moved == 1 and target ~= 'queued' then count(prefix, 'state:' .. target) end
if moved == 1 and (target == 'error' or target == 'unconfirmed') then
  redis.call('ZADD', prefix .. K_DEAD .. 'sends', now, rid)
elseif moved == 1 and cur == 'unconfirmed' then
  -- a late acceptance (the worker's spool) settles it: nothing left for an operator to replay
  redis.call('ZREM', prefix .. K_DEAD .. 'sends', rid)
end
local applied = 0
for one in string.gmatch(mid, '[^,]+') do
  redis.call('SET', prefix .. K_MSG .. one, rid, 'EX', ttl)
  applied = applied + unpark(prefix, one, rid, now)
end
return {moved == 1 and target or cur, tostring(applied)}
