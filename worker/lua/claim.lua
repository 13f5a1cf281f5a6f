-- claim.lua: take a queued send for one provider call (RecordStore.claim / claim_attempt).
-- requires: prelude
-- KEYS[1] record hash, KEYS[2] PIN key, KEYS[3] rate bucket hash or ""
-- ARGV[1] now (unix s), ARGV[2] key prefix, ARGV[3] lease (s), ARGV[4] route of this attempt or ""
-- (when no routes follow), and optionally: ARGV[5] rate (sends/s; 0: no shared limit),
-- ARGV[6] burst, ARGV[7] route key prefix ({prefix}route:), ARGV[8] mode (first | stay |
-- after), ARGV[9] the route mode names, ARGV[10] probe share, ARGV[11] a random draw,
-- ARGV[12..] the configured routes in order (the route is then picked here: pick_route)
-- Returns {'ok', pin, to, client_ref, sent_ref, params JSON, attempts, first_attempt_at,
-- route_faults, route, how, country, country breaker ('run', 'probe' or ''), routes_refused,
-- expires_at (the routes' validity period)}, or {'missing'}, {'expired'}, {'busy'},
-- {'unconfirmed'}, {'done', state}, and before anything is written for a sendable send:
-- {'rate', ms until a token} (none taken), {'wait', seconds until a route may be usable},
-- {'denied', route}, {'refused', routes} (every route refused this send's destination).
-- One attempt costs one round trip: the rate token (take_token), the route (pick_route, whose
-- probe lease is this lease) and the claim, in that order, only for a send that can be sent.
-- The attempt's route becomes the record's `route` and joins `routes_tried` (once each).
-- A claim younger than the lease (longer than one provider call can take) belongs to a
-- live worker: a second copy of the task answers 'busy' and comes back later. Only an
-- older one means no outcome is coming from that worker (it died, or lost Redis).
local now, prefix = ARGV[1], ARGV[2]
local r = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'sending_at', 'to', 'client_ref',
  'sent_ref', 'params', 'attempts', 'first_attempt_at', 'routes_tried', 'route_faults', 'country',
  'routes_refused')
local sending_at = r[3]
r[3] = redis.call('GET', KEYS[2])
local rid = KEYS[1]:sub(#prefix + #K_REC + 1)
if r[1] ~= 'sending' and r[1] ~= 'queued' then redis.call('ZREM', prefix .. K_PENDING, rid) end
if not r[1] then return {'missing'} end
if r[1] == 'queued' then
  -- The PIN key expires with the request: no PIN means too late to send.
  if not r[3] or (r[2] and tonumber(now) > tonumber(r[2])) then
    redis.call('HSET', KEYS[1], 'state', 'expired_before_send', 'updated_at', now, 'final_at', now,
      'error_text', 'the PIN expired before it could be sent')
    redis.call('DEL', KEYS[2])
    count(prefix, 'state:expired_before_send')
    redis.call('ZREM', prefix .. K_PENDING, rid)
    return {'expired'}
  end
  local rate = tonumber(ARGV[5] or '0')
  if rate > 0 then
    local wait = take_token(KEYS[3], rate, tonumber(ARGV[6]))
    if wait > 0 then return {'rate', tostring(wait)} end
  end
  local route, how, gate = ARGV[4], 'closed', ''
  if #ARGV >= 12 then
    local routes = {}
    for i = 12, #ARGV do routes[#routes + 1] = ARGV[i] end
    local pick = pick_route(ARGV[7], tonumber(now), ARGV[8], ARGV[9], tonumber(ARGV[10]),
      tonumber(ARGV[11]), tonumber(ARGV[3]), routes, r[4], r[13], r[12])
    if pick[1] ~= 'route' then return pick end
    route, how, gate = pick[2], pick[3], pick[4]
  end
  local first = r[9] or now
  local attempts = tostring((tonumber(r[8]) or 0) + 1)
  local fields = {'state', 'sending', 'sending_at', now, 'updated_at', now, 'first_attempt_at', first,
    'attempts', attempts}
  if route and route ~= '' then
    local tried = r[10]
    if not tried or tried == '' then
      tried = route
    elseif not string.find(',' .. tried .. ',', ',' .. route .. ',', 1, true) then
      tried = tried .. ',' .. route
    end
    fields[#fields + 1] = 'route'; fields[#fields + 1] = route
    fields[#fields + 1] = 'routes_tried'; fields[#fields + 1] = tried
  end
  -- Still pending until finished (the send keeps its place in the pending set): if this
  -- worker and its task vanish, the sweep (sweep_pending.lua, which goes by `sending_at` for
  -- a claimed send) sends a new copy, which finds the stale claim and settles it unconfirmed.
  redis.call('HSET', KEYS[1], unpack(fields))
  return {'ok', r[3], r[4], r[5] or '', r[6] or '', r[7] or '', attempts, first, r[11] or '0',
    route or '', how, r[12] or '', gate, r[13] or '', r[2] or ''}
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
  redis.call('ZADD', prefix .. K_DEAD .. 'sends', now, rid)
  redis.call('ZREM', prefix .. K_PENDING, rid)
  count(prefix, 'state:unconfirmed')
  return {'unconfirmed'}
end
return {'done', r[1]}
