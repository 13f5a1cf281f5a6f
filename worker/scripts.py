"""Lua scripts: each read-check-write on a record is one atomic step in Redis.

The transition table of :mod:`worker.states` is rendered into the scripts, so
Redis enforces the same rules as Python. Keys are built inside the scripts from
the key prefix, which ties pinrelay to a single Redis (not Redis Cluster).
"""

from __future__ import annotations

from typing import Final

from . import constants as c
from .states import FINAL_STATES, RECEIPT_STATES, TRANSITIONS


def _lua_table() -> str:
    rows = []
    for state, targets in TRANSITIONS.items():
        inner = ",".join(f'["{t.value}"]=true' for t in sorted(targets))
        rows.append(f'["{state.value}"]={{{inner}}}')
    return "local T={" + ",".join(rows) + "}\n"


def _lua_set(name: str, values: frozenset[str]) -> str:
    return f"local {name}={{" + ",".join(f'["{v}"]=true' for v in sorted(values)) + "}\n"


PRELUDE: Final = (
    _lua_table()
    + _lua_set("FINAL", frozenset(s.value for s in FINAL_STATES))
    + _lua_set("RECEIPT", frozenset(s.value for s in RECEIPT_STATES))
    + f"""
local K_REC = "{c.KEY_RECORD}"
local K_MSG = "{c.KEY_MESSAGE_INDEX}"
local K_PARKED = "{c.KEY_PARKED}"
local K_PARKED_LIST = "{c.KEY_PARKED_RECEIPTS}"
local K_UNMATCHED = "{c.KEY_UNMATCHED}"
local K_STATS = "{c.KEY_STATS}"
local K_DEAD = "{c.KEY_DEAD_PREFIX}"
"""
    + """
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
    redis.call('HSET', prefix .. K_UNMATCHED, r['_entry'] or (r['messageId'] .. ':' .. now),
      cjson.encode(r))
    count(prefix, 'receipts_mismatch')
    return 'mismatch'
  end
  if cur[1] == target then count(prefix, 'receipts_duplicate') return 'duplicate' end
  if not T[cur[1]][target] then count(prefix, 'receipts_stale') return 'stale' end
  local fields = {'state', target, 'receipt_status', status, 'receipt_at', r['received_at'] or now,
    'updated_at', now}
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
"""
)

# KEYS[1] record, KEYS[2] idempotency key or "" ; ARGV: ttl, id, field, value, ...
CREATE: Final = """
if KEYS[2] ~= '' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {0, existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ARGV[2]} end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1]) end
return {1, ARGV[2]}
"""

# KEYS[1] record; ARGV: now. Returns {verdict, ...}.
CLAIM: Final = PRELUDE + """
local now = ARGV[1]
local r = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'pin', 'to', 'client_ref',
  'sent_ref', 'params', 'attempts', 'first_attempt_at')
if not r[1] then return {'missing'} end
if r[1] == 'queued' then
  if r[2] and tonumber(now) > tonumber(r[2]) then
    redis.call('HSET', KEYS[1], 'state', 'expired_before_send', 'updated_at', now, 'final_at', now,
      'error_text', 'the PIN expired before it could be sent')
    redis.call('HDEL', KEYS[1], 'pin')
    return {'expired'}
  end
  if not r[3] then
    redis.call('HSET', KEYS[1], 'state', 'error', 'updated_at', now, 'final_at', now,
      'error_text', 'no PIN stored for this request')
    return {'nopin'}
  end
  local first = r[9] or now
  redis.call('HSET', KEYS[1], 'state', 'sending', 'sending_at', now, 'updated_at', now,
    'first_attempt_at', first)
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  return {'ok', r[3], r[4], r[5] or '', r[6] or '', r[7] or '', tostring(attempts), first}
end
if r[1] == 'sending' then
  -- The worker that claimed it died during the provider call: the PIN may be out.
  redis.call('HSET', KEYS[1], 'state', 'unconfirmed', 'updated_at', now, 'error_text',
    'worker stopped during the provider call; the PIN may have been sent')
  redis.call('HDEL', KEYS[1], 'pin')
  return {'unconfirmed'}
end
return {'done', r[1]}
"""

# KEYS[1] record; ARGV: prefix, now, target, ttl, message_id or "", field, value, ...
FINISH: Final = PRELUDE + """
local prefix, now, target, ttl, mid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {'missing'} end
local fields = {'updated_at', now}
for i = 6, #ARGV, 2 do fields[#fields + 1] = ARGV[i]; fields[#fields + 1] = ARGV[i + 1] end
local moved = 0
if T[cur][target] then
  fields[#fields + 1] = 'state'; fields[#fields + 1] = target
  if FINAL[target] then fields[#fields + 1] = 'final_at'; fields[#fields + 1] = now end
  moved = 1
end
redis.call('HSET', KEYS[1], unpack(fields))
if target ~= 'queued' then redis.call('HDEL', KEYS[1], 'pin') end
if moved == 1 and (target == 'error' or target == 'unconfirmed') then
  redis.call('ZADD', prefix .. K_DEAD .. 'sends', now, KEYS[1]:sub(#prefix + #K_REC + 1))
end
local applied = 0
if mid ~= '' then
  redis.call('SET', prefix .. K_MSG .. mid, KEYS[1]:sub(#prefix + #K_REC + 1), 'EX', ttl)
  applied = unpark(prefix, mid, KEYS[1]:sub(#prefix + #K_REC + 1), now)
end
return {moved == 1 and target or cur, tostring(applied)}
"""

# ARGV: prefix, now, parked_ttl, receipt JSON, ... ; returns one verdict per receipt.
CORRELATE: Final = PRELUDE + """
local prefix, now, ttl = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV do
  local ok, r = pcall(cjson.decode, ARGV[i])
  if not ok or type(r) ~= 'table' or not r['messageId'] then
    redis.call('HSET', prefix .. K_UNMATCHED, 'bad:' .. now .. ':' .. i, ARGV[i])
    count(prefix, 'receipts_malformed')
    out[#out + 1] = 'malformed'
  else
    local mid = r['messageId']
    local rid = redis.call('GET', prefix .. K_MSG .. mid)
    if not rid then
      local ref = r['client-ref']
      if ref and ref ~= '' and redis.call('HGET', prefix .. K_REC .. ref, 'sent_ref') == ref then
        rid = ref
        redis.call('SET', prefix .. K_MSG .. mid, rid, 'EX', ttl)
      end
    end
    if rid then
      out[#out + 1] = apply(prefix, rid, r, now)
    else
      park(prefix, mid, ARGV[i], now, ttl)
      out[#out + 1] = 'parked'
    end
  end
end
return out
"""

# ARGV: prefix, older_than, limit. Parked receipts past the grace period -> unmatched.
SWEEP_PARKED: Final = PRELUDE + """
local prefix = ARGV[1]
local mids = redis.call('ZRANGEBYSCORE', prefix .. K_PARKED, '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local moved = 0
for _, mid in ipairs(mids) do
  local list = prefix .. K_PARKED_LIST .. mid
  local parked = redis.call('LRANGE', list, 0, -1)
  for j, raw in ipairs(parked) do
    redis.call('HSET', prefix .. K_UNMATCHED, mid .. ':' .. j, raw)
    count(prefix, 'receipts_unmatched')
    moved = moved + 1
  end
  redis.call('DEL', list)
  redis.call('ZREM', prefix .. K_PARKED, mid)
  redis.call('ZADD', prefix .. K_DEAD .. 'receipts', ARGV[2], mid)
end
return moved
"""
