-- prelude.lua: what every record script shares; worker/lua/__init__.py puts it in front.
-- The loader writes the generated definitions at the start of this first line (one line, so
-- every line below keeps its number in the rendered script):
--   T        the transition table of worker/states.py: T[from][to] is true for an allowed move
--   FINAL    set of final state names;  RECEIPT  set of the states a receipt can report
--   K_REC K_PIN K_MSG K_PARKED K_PARKED_LIST K_UNMATCHED K_STATS K_DEAD K_REF K_PENDING
--            the key suffixes of worker/constants.py (KEY_RECORD, KEY_PIN, ...), used behind
--            the key prefix every script gets in ARGV
-- A script whose header says "-- requires: prelude" comes right after this file: its own
-- line L is line (lines of this file) + L of the rendered script, which is what a Redis
-- error names; worker.lua.origin() maps it back.
--
-- Bounds (worker/constants.py; tests/unit/test_bounds.py checks they agree):
--   DEAD_CAP, PARKED_MAX  the defaults of PINRELAY_DEAD_LETTER_CAP and PINRELAY_PARKED_MAX; a
--                         script that is given the settings (CORRELATE, SWEEP_PARKED) sets them
--   PARKED_PER_ID         receipts kept per parked message-id (the newest)
--   PARKED_SKEW_S         a parked receipt received this long before the send's claim is not its
--   CLIENT_REF_HOLDERS    request ids kept per client-ref in the K_REF index (the newest)
--   ERR_CODES             the err-codes docs/provider-api.md §4 documents; others count as 'other'
--
-- count(prefix, what)         add one to a counter of the stats hash (fields from a fixed set)
-- dead_receipt(prefix, reason, mid, entry, raw)  keep a receipt that was not applied, for a
--                             person: capped stream K_DEAD..'receipts:log'; counted per reason
-- apply(prefix, rid, r, now)  apply one decoded receipt `r` to record `rid`; returns 'gone',
--                             'invalid' (a status we do not know: never final), 'mismatch',
--                             'duplicate', 'stale', 'applied' or
--                             'applied:<seconds from submit to receipt>'
-- park(prefix, mid, raw, at, ttl)  keep a receipt whose send has no message-id yet (capped)
-- unpark(prefix, mid, rid, now)     apply what was parked for `mid` when it can be for `rid`
--                             (its msisdn is the send's number, and it was not received before
--                             the send was claimed); the rest are dead letters. Returns how many
-- take_token(bucket, rate, burst)  take one token of the shared send rate (a hash {tokens, ts,
--                             pause_until} on Redis's clock, so every worker on every host shares
--                             one budget); returns 0 when taken, else ms until one is due or until
--                             the pause (`pause_until`, unix ms, set by rate_pause.lua) ends
-- pick_route(rk, now, mode, ref, share, draw, lease, routes, to, refused, cc)  the route of a
--                             send's next attempt from every route's breaker: {'route', name, how,
--                             country}, {'wait', seconds}, {'denied', route} or {'refused', list}.
--                             Order: `first` the configured one; `after` the routes after `ref`,
--                             then from the start; `stay` `ref` first. Routes in `refused` (they
--                             refused this send's destination) are never picked again: none left
--                             is 'refused'. A degraded route gets only the probe share while a
--                             healthy one remains; an open route past its cooldown lets one leased
--                             attempt through (half-open, the probe). A route's deny set is asked
--                             only once its breaker hash says `denies`, its per-country breakers
--                             (`:cc`, for the send's country `cc`) only once it says `countries`;
--                             `country` is then 'run' or 'probe' (the answer must be reported to
--                             that breaker), else ''. An open (route, cc) breaker is skipped like
--                             an open route, and lets one probe through after its cooldown

local DEAD_CAP, PARKED_MAX, PARKED_PER_ID, PARKED_SKEW_S, CLIENT_REF_HOLDERS = 10000, 10000, 8, 5, 8
local ERR_CODES = {}
for _, code in ipairs({'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13',
    '14', '15', '16', '50', '51', '52', '53', '54', '99'}) do ERR_CODES[code] = true end

local function count(prefix, what)
  redis.call('HINCRBY', prefix .. K_STATS, what, 1)
end

-- The err-code as counted: attacker-chosen text never becomes a stats field or a metric label.
local function err_label(code)
  if not code or code == '' then return '' end
  if ERR_CODES[code] then return code end
  return 'other'
end

local function dead_receipt(prefix, reason, mid, entry, raw)
  local member = ((mid ~= '' and mid) or 'bad') .. ':' .. entry
  redis.call('XADD', prefix .. K_DEAD .. 'receipts:log', 'MAXLEN', '~', DEAD_CAP, '*',
    'id', member, 'reason', reason, 'message_id', mid, 'receipt', raw)
  count(prefix, 'receipts_' .. reason)
end

local function entry_of(r, fallback)
  return (type(r) == 'table' and r['_entry']) or fallback
end

-- Apply one decoded receipt to record `rid`; returns what happened.
local function apply(prefix, rid, r, now)
  local key = prefix .. K_REC .. rid
  local cur = redis.call('HMGET', key, 'state', 'to', 'receipt_status', 'message_id')
  if not cur[1] then return 'gone' end
  local mid = r['messageId'] or ''
  local status = string.lower(r['status'] or '')
  if not RECEIPT[status] then
    -- Never final: an unknown status (or one cut off in transit) waits for a person, and the
    -- provider's next receipt still applies.
    dead_receipt(prefix, 'invalid_status', mid, entry_of(r, now), cjson.encode(r))
    return 'invalid'
  end
  local msisdn = r['msisdn']
  if cur[2] and msisdn and msisdn ~= '' and cur[2] ~= msisdn then
    dead_receipt(prefix, 'mismatch', mid, entry_of(r, now), cjson.encode(r))
    return 'mismatch'
  end
  if cur[1] == status then count(prefix, 'receipts_duplicate') return 'duplicate' end
  if not T[cur[1]][status] then count(prefix, 'receipts_stale') return 'stale' end
  local received = tonumber(r['received_at']) or tonumber(now)
  local fields = {'state', status, 'receipt_status', status,
    'receipt_at', string.format('%.3f', received), 'updated_at', now}
  local function put(name, value)
    if value and value ~= '' then fields[#fields + 1] = name; fields[#fields + 1] = value end
  end
  put('err_code', r['err-code'])
  put('network', r['network-code'])
  put('price', r['price'])
  if not cur[4] then put('message_id', r['messageId']) end
  if FINAL[status] then put('final_at', now) end
  redis.call('HSET', key, unpack(fields))
  count(prefix, 'receipts_applied')
  count(prefix, 'receipt:' .. status .. ':' .. err_label(r['err-code']))
  if FINAL[status] then count(prefix, 'state:' .. status) end
  local submitted = redis.call('HGET', key, 'submitted_at')
  if submitted and tonumber(submitted) then
    return 'applied:' .. string.format('%.3f', received - tonumber(submitted))
  end
  return 'applied'
end

local function overflow(prefix, mid, raw)
  local ok, r = pcall(cjson.decode, raw)
  dead_receipt(prefix, 'overflow', mid, entry_of(ok and r, '?'), raw)
end

local function park(prefix, mid, raw, at, ttl)
  local list = prefix .. K_PARKED_LIST .. mid
  if redis.call('RPUSH', list, raw) > PARKED_PER_ID then overflow(prefix, mid, redis.call('LPOP', list)) end
  redis.call('EXPIRE', list, ttl)
  local parked = prefix .. K_PARKED
  redis.call('ZADD', parked, 'NX', at, mid)
  count(prefix, 'receipts_parked')
  if redis.call('ZCARD', parked) > PARKED_MAX then
    local oldest = redis.call('ZPOPMIN', parked)[1]
    local olist = prefix .. K_PARKED_LIST .. oldest
    for _, old in ipairs(redis.call('LRANGE', olist, 0, -1)) do overflow(prefix, oldest, old) end
    redis.call('DEL', olist)
  end
end

local function unpark(prefix, mid, rid, now)
  local list = prefix .. K_PARKED_LIST .. mid
  local parked = redis.call('LRANGE', list, 0, -1)
  if #parked == 0 then return 0 end
  local rec = redis.call('HMGET', prefix .. K_REC .. rid, 'to', 'sending_at')
  local claimed = tonumber(rec[2])
  for _, raw in ipairs(parked) do
    local ok, r = pcall(cjson.decode, raw)
    if ok and type(r) == 'table' then
      local received = tonumber(r['received_at'])
      if not rec[1] or r['msisdn'] ~= rec[1] then
        dead_receipt(prefix, 'mismatch', mid, entry_of(r, now), raw)
      elseif claimed and received and received < claimed - PARKED_SKEW_S then
        dead_receipt(prefix, 'early', mid, entry_of(r, now), raw)
      else
        apply(prefix, rid, r, now)
      end
    end
  end
  redis.call('DEL', list)
  redis.call('ZREM', prefix .. K_PARKED, mid)
  return #parked
end

local function take_token(bucket, rate, burst)
  pcall(redis.replicate_commands)  -- TIME before writes: Redis < 5 needs effects replication
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local b = redis.call('HMGET', bucket, 'tokens', 'ts', 'pause_until')
  local pause = tonumber(b[3] or '0')
  if pause > now then return pause - now end
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  local wait = 0
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait = math.ceil((1 - tokens) * 1000 / rate)
  end
  redis.call('HSET', bucket, 'tokens', tostring(tokens), 'ts', tostring(now))
  return wait
end

-- The (route, country) breaker's answer for a send to country `cc` on the route of hash `key`:
-- 'ok' (nothing on record), 'run' (refusals counted, still closed), 'probe' (open, cooldown
-- over, no probe out) or the seconds until it may let one through.
local function country_gate(key, cc, now)
  local c = redis.call('HMGET', key .. ':cc', cc .. ':open_until', cc .. ':probe_until', cc .. ':run')
  local open_until = tonumber(c[1] or '')
  if not open_until then
    if c[3] and c[3] ~= '0' then return 'run' end
    return 'ok'
  end
  if now < open_until then return open_until - now end
  local probe = tonumber(c[2] or '0')
  if probe > now then return math.min(probe - now, 1) end
  return 'probe'
end

local function listed(list, name)
  return list and list ~= '' and string.find(',' .. list .. ',', ',' .. name .. ',', 1, true) ~= nil
end

local function pick_route(rk, now, mode, ref, share, draw, lease, routes, to, refused, cc)
  local breakers = {}
  for _, name in ipairs(routes) do
    local b = redis.call('HMGET', rk .. name, 'state', 'open_until', 'probe_until', 'health', 'run', 'denies',
      'countries')
    breakers[name] = b
    if to and b[6] and redis.call('SISMEMBER', rk .. name .. ':deny', to) == 1 then return {'denied', name} end
  end
  local order, start = {}, 1
  if mode == 'stay' then order[1] = ref end
  if mode == 'after' then
    for i, name in ipairs(routes) do if name == ref then start = i + 1 end end
  end
  for i = start, #routes do order[#order + 1] = routes[i] end
  for i = 1, start - 1 do order[#order + 1] = routes[i] end
  local candidates = 0
  local wait, fallback, fallback_gate = nil, nil, ''
  local function later(seconds)
    if not wait or seconds < wait then wait = seconds end
  end
  local function take(name, how, gate)
    if gate == 'probe' then redis.call('HSET', rk .. name .. ':cc', cc .. ':probe_until', tostring(now + lease)) end
    if gate ~= 'run' and gate ~= 'probe' then gate = '' end
    return {'route', name, how, gate}
  end
  for _, name in ipairs(order) do
    if not listed(refused, name) then
      candidates = candidates + 1
      local key = rk .. name
      local b = breakers[name] or redis.call('HMGET', key, 'state', 'open_until', 'probe_until', 'health', 'run',
        'denies', 'countries')
      local gate = 'ok'
      if b[7] and cc and cc ~= '' then gate = country_gate(key, cc, now) end
      local state = b[1] or 'closed'
      if type(gate) == 'number' then
        later(gate)
      elseif state == 'closed' then
        if b[4] ~= 'degraded' then
          return take(name, (b[5] and b[5] ~= '0') and 'closed_run' or 'closed', gate)
        end
        if draw < share then return take(name, 'degraded_share', gate) end
        if not fallback then fallback, fallback_gate = name, gate end
      elseif state == 'open' and now < tonumber(b[2] or '0') then
        later(tonumber(b[2]) - now)
      elseif tonumber(b[3] or '0') > now then
        later(math.min(tonumber(b[3]) - now, 1))  -- the probe is out: look again within a second
      else
        if state ~= 'half_open' then redis.call('HSET', key, 'state', 'half_open', 'changed_at', tostring(now)) end
        redis.call('HSET', key, 'probe_until', tostring(now + lease))
        return take(name, 'probe', gate)
      end
    end
  end
  if candidates == 0 then return {'refused', refused} end
  if fallback then return take(fallback, 'degraded_only', fallback_gate) end
  return {'wait', tostring(wait or 1)}
end
