-- receipt_push.lua: queue a batch of receipts on the stream (webhook ResultQueue.push).
-- KEYS[1] the receipts stream, KEYS[2..] nonce keys
-- ARGV[1] nonce TTL (s), ARGV[2] JSON [[nonce key index or 0, [field, value, ...]], ...]
-- (one argument packs far faster in redis-py than 30 separate ones)
-- Returns one entry id per receipt, or false for a nonce already seen.
-- The nonce is recorded after the XADD, so a failed XADD leaves none behind to swallow the
-- provider's retry.
local ids = {}
for i, item in ipairs(cjson.decode(ARGV[2])) do
  local nonce = item[1] > 0 and KEYS[item[1]] or nil
  if nonce and redis.call('EXISTS', nonce) == 1 then
    ids[i] = false
  else
    ids[i] = redis.call('XADD', KEYS[1], '*', unpack(item[2]))
    if nonce then redis.call('SET', nonce, ids[i], 'EX', ARGV[1]) end
  end
end
return ids
