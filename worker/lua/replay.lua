-- replay.lua: an operator's replay of a dead send as a new request (RecordStore.replay).
-- KEYS[1] old record, KEYS[2] old PIN key, KEYS[3] new record, KEYS[4] new PIN key,
-- KEYS[5] pending set
-- ARGV[1] now (unix s), ARGV[2] record TTL (s), ARGV[3] new request id
-- Returns {'ok', new id}, or {'missing'}, {'not_dead', state}, {'already', replayed as},
-- {'expired'}.
-- The new request has the same number and PIN, linked both ways; the old record stays final.
-- Refused once replayed or expired. The old PIN key stays until the new task is published
-- (RecordStore.replay_published / undo_replay).
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
