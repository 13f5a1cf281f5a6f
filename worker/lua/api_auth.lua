-- api_auth.lua: authenticate one HTTP API request and spend one unit of its key's rate limit
-- (worker.api.keys.ApiKeys.authenticate).
-- KEYS[1] the key's hash index (prefix .. 'apikey:sha256:' .. SHA-256 of the presented key)
-- ARGV[1] key record prefix (prefix .. 'apikey:'), ARGV[2] rate state prefix
-- (prefix .. 'apirate:'), ARGV[3] requests per second (0 = no limit), ARGV[4] burst (requests),
-- ARGV[5] (optional) an identity that is not a key (an auth-server hook: 'supabase'): KEYS[1] is
-- then "" and only its rate is spent (ApiKeys.admit).
-- Returns {'unknown'}, {'revoked', id}, {'ok', id, admin} or {'limited', id, milliseconds to
-- wait}; admin is '1' for a key created with `keys create --admin` (the admin routes), else '0'
-- (always '0' for an identity that is not a key).
-- Nothing is cached: a key revoked a moment ago (revoked_at set) fails on every API process
-- at once. The limit is GCRA: the state is one number per key, the time at which
-- its next request conforms, shared by every API process; the clock is Redis's own.
local id, record = ARGV[5], nil
if not id or id == '' then
  id = redis.call('GET', KEYS[1])
  if not id then return {'unknown'} end
  record = ARGV[1] .. id
  -- HGET: the `api` user of ops/redis-users.acl may HGET a key record (never list or change keys)
  if redis.call('HGET', record, 'revoked_at') then return {'revoked', id} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[3])
if rate > 0 then
  local interval = 1000 / rate
  local state = ARGV[2] .. id
  local tat = tonumber(redis.call('GET', state)) or now
  if tat < now then tat = now end
  local allowed_at = tat + interval - tonumber(ARGV[4]) * interval
  if now < allowed_at then return {'limited', id, tostring(math.ceil(allowed_at - now))} end
  redis.call('SET', state, string.format('%.3f', tat + interval), 'PX', math.ceil(tat + interval - now) + 1000)
end
if not record then return {'ok', id, '0'} end
redis.call('HSET', record, 'last_used_at', string.format('%.3f', now / 1000))
return {'ok', id, redis.call('HGET', record, 'admin') or '0'}
