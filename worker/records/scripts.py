"""Lua scripts: each read-check-write on a record is one atomic step in Redis.

The transition table of :mod:`worker.states` is rendered into the scripts, so
Redis enforces the same rules as Python. Keys are built inside the scripts from
the key prefix, which ties pinrelay to a single Redis (not Redis Cluster).
"""

from __future__ import annotations

from typing import Final

from worker import constants as c
from worker.states import FINAL_STATES, RECEIPT_STATES, TRANSITIONS


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
local K_REF = "{c.KEY_CLIENT_REF}"
local K_PENDING = "{c.KEY_PENDING}"
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
"""
)

# KEYS: record, idempotency key or "", PIN key, client-ref index key or "", pending set,
# broker queue list or ""; ARGV: ttl, id, pin, pin_ttl_ms, task message or "", field, value, ...
# The PIN has its own key that expires with the request, so no PIN outlives its usefulness.
# A caller's client-ref is indexed (first holder wins) so a receipt for an unconfirmed send,
# which has no message-id yet, can still find it. With a queue, the task message (kombu's
# Redis format) is pushed in the same step: a record never exists without its task, and a
# repeat of an idempotency key pushes nothing.
CREATE: Final = """
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
"""

# KEYS: record, PIN key; ARGV: now, prefix, lease_s. Returns {verdict, ...}.
# A claim younger than the lease (longer than one provider call can take) belongs to a
# live worker: a second copy of the task answers 'busy' and comes back later. Only an
# older one means its worker died during the call.
CLAIM: Final = PRELUDE + """
local now = ARGV[1]
local r = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'sending_at', 'to', 'client_ref',
  'sent_ref', 'params', 'attempts', 'first_attempt_at')
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
  -- Still pending until finished: if this worker and its task vanish, the sweep sends a
  -- new copy, which finds the stale claim and settles the send as unconfirmed.
  redis.call('ZADD', ARGV[2] .. K_PENDING, now, rid)
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  return {'ok', r[3], r[4], r[5] or '', r[6] or '', r[7] or '', tostring(attempts), first}
end
if r[1] == 'sending' then
  if sending_at and tonumber(now) - tonumber(sending_at) < tonumber(ARGV[3]) then
    return {'busy'}
  end
  -- The worker that claimed it died during the provider call: the PIN may be out.
  redis.call('HSET', KEYS[1], 'state', 'unconfirmed', 'updated_at', now, 'error_text',
    'worker stopped during the provider call; the PIN may have been sent')
  redis.call('ZADD', ARGV[2] .. K_DEAD .. 'sends', now, rid)
  redis.call('ZREM', ARGV[2] .. K_PENDING, rid)
  count(ARGV[2], 'state:unconfirmed')
  return {'unconfirmed'}
end
return {'done', r[1]}
"""

# KEYS: record, PIN key; ARGV: prefix, now, target, ttl, message_id or "", field, value, ...
# The PIN is dropped once it can no longer be sent again; error/unconfirmed keep it until
# it expires so that an operator may replay the send (as a new request).
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
-- A refused move writes nothing (a late release must not decorate a delivered record),
-- except the facts of an acceptance that a receipt overtook.
if moved == 1 or target == 'submitted' then redis.call('HSET', KEYS[1], unpack(fields)) end
if target ~= 'queued' and target ~= 'error' and target ~= 'unconfirmed' then
  redis.call('DEL', KEYS[2])
end
local rid = KEYS[1]:sub(#prefix + #K_REC + 1)
if moved == 1 and target == 'queued' then
  redis.call('ZADD', prefix .. K_PENDING, now, rid)
elseif moved == 1 then
  redis.call('ZREM', prefix .. K_PENDING, rid)
end
if moved == 1 and target ~= 'queued' then count(prefix, 'state:' .. target) end
if moved == 1 and (target == 'error' or target == 'unconfirmed') then
  redis.call('ZADD', prefix .. K_DEAD .. 'sends', now, rid)
end
local applied = 0
if mid ~= '' then
  redis.call('SET', prefix .. K_MSG .. mid, rid, 'EX', ttl)
  applied = unpark(prefix, mid, rid, now)
end
return {moved == 1 and target or cur, tostring(applied)}
"""

# KEYS: old record, old PIN key, new record, new PIN key, pending set; ARGV: now, ttl, new id.
# An operator's replay of a dead send: a new request with the same number and PIN,
# linked both ways; the old record stays final. Refused once replayed or expired. The old
# PIN key stays until the new task is published (RecordStore.replay_published / undo_replay).
REPLAY: Final = """
local r = redis.call('HMGET', KEYS[1], 'state', 'to', 'client_ref', 'sent_ref', 'params',
  'expires_at', 'replayed_as', 'id')
if not r[1] then return {'missing'} end
if r[1] ~= 'error' and r[1] ~= 'unconfirmed' then return {'not_dead', r[1]} end
if r[7] then return {'already', r[7]} end
local pin = redis.call('GET', KEYS[2])
local ttl = redis.call('PTTL', KEYS[2])
if not pin or ttl <= 0 then return {'expired'} end
local fields = {'id', ARGV[3], 'to', r[2], 'state', 'queued', 'attempts', '0', 'created_at', ARGV[1],
  'updated_at', ARGV[1], 'expires_at', r[6], 'sent_ref', ARGV[3], 'replay_of', r[8]}
if r[3] then fields[#fields + 1] = 'client_ref'; fields[#fields + 1] = r[3] end
if r[5] then fields[#fields + 1] = 'params'; fields[#fields + 1] = r[5] end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('EXPIRE', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], pin, 'PX', ttl)
redis.call('HSET', KEYS[1], 'replayed_as', ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[3])
return {'ok', ARGV[3]}
"""

# ARGV: prefix, now, cutoff, limit. Sends whose task has been out since before the cutoff
# with nobody finishing it (queued and never claimed, or claimed by a worker that vanished
# with its task): returned for republishing, re-stamped so each is republished at most once
# per grace period. Anything settled leaves the set.
SWEEP_PENDING: Final = PRELUDE + """
local prefix, now = ARGV[1], ARGV[2]
local ids = redis.call('ZRANGEBYSCORE', prefix .. K_PENDING, '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
local out = {}
for _, rid in ipairs(ids) do
  local state = redis.call('HGET', prefix .. K_REC .. rid, 'state')
  if state == 'sending' or (state == 'queued' and redis.call('EXISTS', prefix .. 'pin:' .. rid) == 1) then
    redis.call('ZADD', prefix .. K_PENDING, now, rid)
    out[#out + 1] = rid
  else
    redis.call('ZREM', prefix .. K_PENDING, rid)
  end
end
return out
"""
