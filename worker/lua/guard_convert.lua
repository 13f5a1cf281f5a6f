-- guard_convert.lua: a conversion (a verification approved, report_conversion(delivered=True))
-- counts for the pumping guard's prefix window (worker/guard/conversions.py), once per send.
-- KEYS[1] the send's record, KEYS[2] the stats hash
-- ARGV[1] key prefix, ARGV[2] now (unix ms), ARGV[3] the guard's window (ms)
-- Returns 1 when counted; 0 for a send the guard did not judge, one older than the window, an
-- unknown id (no record) or a second report: none of them changes the window, so typing codes
-- in cannot lift a prefix's rate faster than honest users convert.
local f = redis.call('HMGET', KEYS[1], 'judged', 'to', 'created_at', 'country', 'id')
if f[1] ~= '1' or not f[2] or not f[3] then return 0 end
local sent = math.floor(tonumber(f[3]) * 1000)
local window = tonumber(ARGV[3])
if tonumber(ARGV[2]) - sent > window then return 0 end
local key = ARGV[1] .. 'guard:conv:' .. f[2]:sub(1, #f[2] - 4)
if redis.call('ZADD', key, 'NX', sent, f[5] or KEYS[1]) == 0 then return 0 end
redis.call('PEXPIRE', key, window)
redis.call('HINCRBY', KEYS[2], 'guard:converted:' .. (f[4] or '*'), 1)
return 1
