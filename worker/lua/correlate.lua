-- correlate.lua: match a batch of receipts to their sends (Correlator).
-- requires: prelude
-- KEYS: none (keys are built from the prefix)
-- ARGV[1] key prefix, ARGV[2] now (unix s), ARGV[3] TTL (s) of parked receipts and of the
-- message-id index, ARGV[4] dead-letter cap, ARGV[5] parked cap, ARGV[6..] one receipt JSON each
-- Returns one verdict per receipt: apply()'s, or 'malformed', 'error', 'parked', 'ambiguous'
-- (parked: its client-ref names several sends it could be for), 'stale'.
-- A receipt is found by message-id. Failing that, by its client-ref, but only for a send that
-- has no message-id yet (one that has is not the sender of another id) and whose number is the
-- receipt's msisdn. One found for a send queued again (an attempt that got no answer) is stale
-- and binds nothing. Any other waits (parked) until FINISH records its message-id.
local prefix, now, ttl = ARGV[1], ARGV[2], ARGV[3]
DEAD_CAP, PARKED_MAX = tonumber(ARGV[4]), tonumber(ARGV[5])

-- The send a receipt's client-ref stands for, or nil and why not ('stale', 'ambiguous').
local function by_client_ref(r, mid)
  local ref = r['client-ref']
  if not ref or ref == '' then return nil end
  local ids = redis.call('ZRANGE', prefix .. K_REF .. ref, 0, -1)
  if redis.call('HGET', prefix .. K_REC .. ref, 'sent_ref') == ref then ids[#ids + 1] = ref end
  local msisdn, open, queued = r['msisdn'], {}, false
  for _, rid in ipairs(ids) do
    local cur = redis.call('HMGET', prefix .. K_REC .. rid, 'state', 'to', 'message_id')
    if cur[3] == mid then return rid end
    if cur[1] and not cur[3] and msisdn and msisdn ~= '' and cur[2] == msisdn then
      if cur[1] == 'queued' then queued = true else open[#open + 1] = rid end
    end
  end
  if #open == 1 then return open[1] end
  if #open > 1 then return nil, 'ambiguous' end
  if queued then return nil, 'stale' end
  return nil
end

local out = {}
for i = 6, #ARGV do
  local ok, r = pcall(cjson.decode, ARGV[i])
  if not ok or type(r) ~= 'table' or type(r['messageId']) ~= 'string' then
    dead_receipt(prefix, 'malformed', '', entry_of(ok and r, now .. ':' .. i), ARGV[i])
    out[#out + 1] = 'malformed'
  else
    local mid = r['messageId']
    local rid, why = redis.call('GET', prefix .. K_MSG .. mid), nil
    if not rid then
      rid, why = by_client_ref(r, mid)
      if rid then redis.call('SET', prefix .. K_MSG .. mid, rid, 'EX', ttl) end
    end
    if rid then
      -- One poisoned receipt must not block its batch: set it aside and carry on.
      local applied, verdict = pcall(apply, prefix, rid, r, now)
      if not applied then
        dead_receipt(prefix, 'error', mid, entry_of(r, now), ARGV[i])
        verdict = 'error'
      end
      out[#out + 1] = verdict
    elseif why == 'stale' then
      count(prefix, 'receipts_stale')
      out[#out + 1] = 'stale'
    else
      park(prefix, mid, ARGV[i], tonumber(r['received_at']) or tonumber(now), ttl)
      out[#out + 1] = why or 'parked'
    end
  end
end
return out
