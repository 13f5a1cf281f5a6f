-- receipt_push.lua: queue a batch of receipts on the stream (webhook ResultQueue.push_entries).
-- KEYS[1] the receipts stream, KEYS[2..] replay keys (a signed receipt's nonce and signature)
-- ARGV[1] replay-key TTL (s), ARGV[2] JSON [[first replay-key index, how many,
-- [field, value, ...]], ...] (one argument packs far faster in redis-py than 30 separate ones),
-- ARGV[3] backlog bound: receipts on the stream (not yet correlated) beyond which none is added
-- Returns one entry id per receipt, or false for one whose replay keys were already seen (any of
-- them: a nonce respelled with `&` or `=`, which the signing string turns into `_`, keeps its
-- signature); or the error "BACKLOG ..." with nothing added, when the stream is full.
-- Replay keys are recorded after the XADD, so a failed XADD leaves none behind to swallow the
-- provider's retry. One EXISTS names all of a receipt's replay keys (it counts those present).
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return redis.error_reply('BACKLOG the receipts stream holds ' .. ARGV[3] .. ' entries')
end
local ids = {}
for i, item in ipairs(cjson.decode(ARGV[2])) do
  local first, n = item[1], item[2]
  if n > 0 and redis.call('EXISTS', unpack(KEYS, first, first + n - 1)) > 0 then
    ids[i] = false
  else
    ids[i] = redis.call('XADD', KEYS[1], '*', unpack(item[3]))
    for k = first, first + n - 1 do redis.call('SET', KEYS[k], ids[i], 'EX', ARGV[1]) end
  end
end
return ids
