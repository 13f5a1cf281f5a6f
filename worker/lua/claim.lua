-- claim.lua: take a queued send for one provider call (RecordStore.claim).
-- requires: prelude
-- KEYS[1] record hash, KEYS[2] PIN key
-- ARGV[1] now (unix s), ARGV[2] key prefix, ARGV[3] lease (s), ARGV[4] route of this attempt or ""
-- Returns {'ok', pin, to, client_ref, sent_ref, params JSON, attempts, first_attempt_at,
-- route_faults}, or {'missing'}, {'expired'}, {'busy'}, {'unconfirmed'}, {'done', state}.
-- The attempt's route becomes the record's `route` and joins `routes_tried` (once each).
-- A claim younger than the lease (longer than one provider call can take) belongs to a
-- live worker: a second copy of the task answers 'busy' and comes back later. Only an
-- older one means no outcome is coming from that worker (it died, or lost Redis).
local now = ARGV[1]
local r = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'sending_at', 'to', 'client_ref',
  'sent_ref', 'params', 'attempts', 'first_attempt_at', 'routes_tried', 'route_faults')
local sending_at = r[3]
r[3] = redis.call('GET', KEYS[2])
local rid = KEYS[1]:sub(#ARGV[2] + #K_REC + 1)
if r[1] ~= 'sending' and r[1] ~= 'queued' then redis.call('ZREM', ARGV[2] .. K_PENDING, rid) end
if not r[1] then return {'missing'} end
if r[1] == 'queued' then
  -- The PIN key expires with the request: no PIN means too late to send.
  if not r[3] or (r[2] and tonumber(now) > tonumber(r[2])) then
    redis.call('HSET', KEYS[1], 'state', 'expired_before_send', 'updated_at', now, 'final_at', now,
      'error_text', 'the PIN expired before it could be sent')
    redis.call('DEL', KEYS[2])
    count(ARGV[2], 'state:expired_before_send')
    redis.call('ZREM', ARGV[2] .. K_PENDING, rid)
    return {'expired'}
  end
  local first = r[9] or now
  redis.call('HSET', KEYS[1], 'state', 'sending', 'sending_at', now, 'updated_at', now,
    'first_attempt_at', first)
  local route = ARGV[4]
  if route and route ~= '' then
    local tried = r[10]
    if not tried or tried == '' then
      tried = route
    elseif not string.find(',' .. tried .. ',', ',' .. route .. ',', 1, true) then
      tried = tried .. ',' .. route
    end
    redis.call('HSET', KEYS[1], 'route', route, 'routes_tried', tried)
  end
  -- Still pending until finished: if this worker and its task vanish, the sweep sends a
  -- new copy, which finds the stale claim and settles the send as unconfirmed.
  redis.call('ZADD', ARGV[2] .. K_PENDING, now, rid)
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  return {'ok', r[3], r[4], r[5] or '', r[6] or '', r[7] or '', tostring(attempts), first,
    r[11] or '0'}
end
if r[1] == 'sending' then
  if sending_at and tonumber(now) - tonumber(sending_at) < tonumber(ARGV[3]) then
    return {'busy'}
  end
  -- Nobody recorded an outcome within the lease: the worker died during the call, or the
  -- provider answered and Redis was unreachable since. The PIN may be out. It stays for a
  -- replay, unless this is a verification's send (never replayed; see finish.lua).
  redis.call('HSET', KEYS[1], 'state', 'unconfirmed', 'updated_at', now, 'error_text',
    'no outcome recorded within the claim lease: the worker stopped or lost Redis during or ' ..
    'right after the provider call; the PIN may have been sent (an acceptance the worker ' ..
    'kept in its spool is recorded here once it reaches Redis)')
  local idem = redis.call('HGET', KEYS[1], 'idempotency_key')
  if idem and string.sub(idem, 1, 7) == 'verify:' then redis.call('DEL', KEYS[2]) end
  redis.call('ZADD', ARGV[2] .. K_DEAD .. 'sends', now, rid)
  redis.call('ZREM', ARGV[2] .. K_PENDING, rid)
  count(ARGV[2], 'state:unconfirmed')
  return {'unconfirmed'}
end
return {'done', r[1]}
