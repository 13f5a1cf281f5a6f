-- receipt_push.lua: queue a batch of receipts on the stream (webhook ResultQueue.push_entries).
-- KEYS[1] the receipts stream, KEYS[2] the dead-letter log of receipts, KEYS[3] the stats hash,
-- KEYS[4..] replay keys (a signed receipt's nonce and signature)
-- ARGV[1] replay-key TTL (s), ARGV[2] JSON [[first replay-key index, how many,
-- [field, value, ...], held], ...] (one argument packs far faster in redis-py than 30 separate
-- ones), ARGV[3] backlog bound: receipts on the stream (not yet correlated) beyond which none is
-- added, ARGV[4] the dead-letter cap
-- A receipt whose `held` is a reason (a late signature) goes to the dead-letter log instead
-- (capped like every dead receipt, counted as receipts_<reason>), its fields those of a dead
-- letter; `pinrelay dead apply` puts it on the stream later.
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
  local first, n, held = item[1], item[2], item[4]
  if n > 0 and redis.call('EXISTS', unpack(KEYS, first, first + n - 1)) > 0 then
    ids[i] = false
  elseif held and held ~= '' then
    ids[i] = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(item[3]))
    redis.call('HINCRBY', KEYS[3], 'receipts_' .. held, 1)
  else
    ids[i] = redis.call('XADD', KEYS[1], '*', unpack(item[3]))
  end
  if ids[i] then
    for k = first, first + n - 1 do redis.call('SET', KEYS[k], ids[i], 'EX', ARGV[1]) end
  end
end
return ids
