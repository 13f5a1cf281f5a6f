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
-- count(prefix, what)         add one to a counter of the stats hash
-- apply(prefix, rid, r, now)  apply one decoded receipt `r` to record `rid`; returns 'gone',
--                             'mismatch', 'duplicate', 'stale', 'applied' or
--                             'applied:<seconds from submit to receipt>'
-- park(prefix, mid, raw, now, ttl)  keep a receipt whose send has no message-id yet
-- unpark(prefix, mid, rid, now)     apply what was parked for `mid`; returns how many

local function count(prefix, what)
  redis.call('HINCRBY', prefix .. K_STATS, what, 1)
end

-- Apply one decoded receipt to record `rid`; returns what happened.
local function apply(prefix, rid, r, now)
  local key = prefix .. K_REC .. rid
  local cur = redis.call('HMGET', key, 'state', 'to', 'receipt_status', 'message_id')
  if not cur[1] then return 'gone' end
  local status = string.lower(r['status'] or '')
  local target = status
  if not RECEIPT[target] then target = 'unknown' end
  local msisdn = r['msisdn']
  if cur[2] and msisdn and msisdn ~= '' and cur[2] ~= msisdn then
    local member = 'mismatch:' .. (r['_entry'] or (r['messageId'] .. ':' .. now))
    redis.call('HSET', prefix .. K_UNMATCHED, member, cjson.encode(r))
    redis.call('ZADD', prefix .. K_DEAD .. 'receipts', now, member)
    count(prefix, 'receipts_mismatch')
    return 'mismatch'
  end
  if cur[1] == target then count(prefix, 'receipts_duplicate') return 'duplicate' end
  if not T[cur[1]][target] then count(prefix, 'receipts_stale') return 'stale' end
  local received = tonumber(r['received_at']) or tonumber(now)
  local fields = {'state', target, 'receipt_status', status,
    'receipt_at', string.format('%.3f', received), 'updated_at', now}
  local function put(name, value)
    if value and value ~= '' then fields[#fields + 1] = name; fields[#fields + 1] = value end
  end
  put('err_code', r['err-code'])
  put('network', r['network-code'])
  put('price', r['price'])
  if not cur[4] then put('message_id', r['messageId']) end
  if FINAL[target] then put('final_at', now) end
  redis.call('HSET', key, unpack(fields))
  count(prefix, 'receipts_applied')
  count(prefix, 'receipt:' .. target .. ':' .. (r['err-code'] or ''))
  if FINAL[target] then count(prefix, 'state:' .. target) end
  local submitted = redis.call('HGET', key, 'submitted_at')
  if submitted and tonumber(submitted) then
    return 'applied:' .. string.format('%.3f', received - tonumber(submitted))
  end
  return 'applied'
end

local function park(prefix, mid, raw, now, ttl)
  local list = prefix .. K_PARKED_LIST .. mid
  redis.call('RPUSH', list, raw)
  redis.call('EXPIRE', list, ttl)
  redis.call('ZADD', prefix .. K_PARKED, 'NX', now, mid)
  count(prefix, 'receipts_parked')
end

local function unpark(prefix, mid, rid, now)
  local list = prefix .. K_PARKED_LIST .. mid
  local parked = redis.call('LRANGE', list, 0, -1)
  for _, raw in ipairs(parked) do
    apply(prefix, rid, cjson.decode(raw), now)
  end
  if #parked > 0 then
    redis.call('DEL', list)
    redis.call('ZREM', prefix .. K_PARKED, mid)
  end
  return #parked
end
