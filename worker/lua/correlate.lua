-- correlate.lua: match a batch of receipts to their sends (Correlator).
-- requires: prelude
-- KEYS: none (keys are built from the prefix)
-- ARGV[1] key prefix, ARGV[2] now (unix s), ARGV[3] TTL (s) of parked receipts and of the
-- message-id index, ARGV[4..] one receipt JSON each
-- Returns one verdict per receipt: apply()'s, or 'malformed', 'error', 'parked'.
-- A receipt is found by message-id, else by client-ref; one that finds no send yet is
-- parked until FINISH records its message-id.
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
