"""Lua scripts of the receipt side: matching receipts to sends, and giving up on early ones.

They share :data:`worker.records.scripts.PRELUDE` (the transition table, ``apply``, ``park``)
with the send side, whose FINISH applies receipts that arrived before the
message-id was recorded; what only the correlator runs lives here.
"""

from __future__ import annotations

from typing import Final

from worker.records.scripts import PRELUDE

# ARGV: prefix, now, parked_ttl, receipt JSON, ... ; returns one verdict per receipt.
CORRELATE: Final = PRELUDE + """
local prefix, now, ttl = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV do
  local ok, r = pcall(cjson.decode, ARGV[i])
  if not ok or type(r) ~= 'table' or not r['messageId'] then
    redis.call('HSET', prefix .. K_UNMATCHED, 'bad:' .. now .. ':' .. i, ARGV[i])
    redis.call('ZADD', prefix .. K_DEAD .. 'receipts', now, 'bad:' .. now .. ':' .. i)
    count(prefix, 'receipts_malformed')
    out[#out + 1] = 'malformed'
  else
    local mid = r['messageId']
    local rid = redis.call('GET', prefix .. K_MSG .. mid)
    if not rid then
      local ref = r['client-ref']
      if ref and ref ~= '' then
        rid = redis.call('GET', prefix .. K_REF .. ref)
        if not rid and redis.call('HGET', prefix .. K_REC .. ref, 'sent_ref') == ref then rid = ref end
        if rid then redis.call('SET', prefix .. K_MSG .. mid, rid, 'EX', ttl) end
      end
    end
    if rid then
      -- One poisoned receipt must not block its batch: set it aside and carry on.
      local ok, verdict = pcall(apply, prefix, rid, r, now)
      if not ok then
        redis.call('HSET', prefix .. K_UNMATCHED, 'err:' .. (r['_entry'] or mid), ARGV[i])
        redis.call('ZADD', prefix .. K_DEAD .. 'receipts', now, 'err:' .. (r['_entry'] or mid))
        count(prefix, 'receipts_error')
        verdict = 'error'
      end
      out[#out + 1] = verdict
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
    local ok, r = pcall(cjson.decode, raw)
    local member = mid .. ':' .. ((ok and type(r) == 'table' and r['_entry']) or j)
    redis.call('HSET', prefix .. K_UNMATCHED, member, raw)
    redis.call('ZADD', prefix .. K_DEAD .. 'receipts', ARGV[2], member)
    count(prefix, 'receipts_unmatched')
    moved = moved + 1
  end
  redis.call('DEL', list)
  redis.call('ZREM', prefix .. K_PARKED, mid)
end
return moved
"""
