-- verify_settle.lua: take an ended verification off the owed list (VerifyStore.settle_owed).
-- KEYS[1] verification hash, KEYS[2] owed-conversions zset
-- ARGV[1] verification id
-- Returns 1 when it left the list, 0 when a linked send is still unreported (it stays on
-- the list: another reporter takes it when its lease runs out, or at once if
-- verify_link.lua owed it again meanwhile).
-- Only when every linked send (send:<n>) carries its conv:<n> mark: a send linked while the
-- caller was reporting (verify_link.lua, 'ended') keeps the verification owed.
local sends = tonumber(redis.call('HGET', KEYS[1], 'sends') or '0')
for i = 1, sends do
  if redis.call('HEXISTS', KEYS[1], 'send:' .. i) == 1 and redis.call('HEXISTS', KEYS[1], 'conv:' .. i) == 0 then
    return 0
  end
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
