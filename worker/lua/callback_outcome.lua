-- callback_outcome.lua: record how one callback delivery went (worker.callbacks.delivery).
-- KEYS[1] record hash, KEYS[2] watch zset
-- ARGV[1] id, ARGV[2] the state the callback tells, ARGV[3] outcome: 'ok' (2xx), 'refused'
-- (will never be delivered: bad URL now, no secret) or 'failed' (non-2xx, no answer),
-- ARGV[4] now (unix s), ARGV[5] retry deadline (s), ARGV[6] first and ARGV[7] longest pause
-- between attempts (s), ARGV[8] jitter factor (0..1), ARGV[9] '1' if that state ends
-- watching, ARGV[10] pause before the next look at a record still watched (s)
-- Returns {'done', attempts}, {'gave_up', attempts}, {'retry', attempts, pause (s)} or {'gone'}.
-- Attempts and the first attempt's time are kept on the record (callback_attempts,
-- callback_first_at) so the schedule survives any process; the next attempt is the watch
-- entry's score, which the sweep turns into a new task. 'done' and 'gave_up' mark the state
-- told (callback_state) so it is never delivered again.
local now = tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {'gone'}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'callback_attempts', 1)
redis.call('HSETNX', KEYS[1], 'callback_first_at', ARGV[4])
local first = tonumber(redis.call('HGET', KEYS[1], 'callback_first_at'))
local verdict = 'done'
if ARGV[3] == 'failed' then
  if now - first < tonumber(ARGV[5]) then
    local pause = math.min(tonumber(ARGV[7]), tonumber(ARGV[6]) * 2 ^ (attempts - 1))
    pause = pause * (1 + tonumber(ARGV[8]) / 2)
    redis.call('ZADD', KEYS[2], now + pause, ARGV[1])
    return {'retry', attempts, tostring(pause)}
  end
  verdict = 'gave_up'
end
redis.call('HSET', KEYS[1], 'callback_state', ARGV[2])
redis.call('HDEL', KEYS[1], 'callback_attempts', 'callback_first_at')
if ARGV[9] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[10]), ARGV[1])
end
return {verdict, attempts}
