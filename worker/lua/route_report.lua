-- route_report.lua: what one provider call says about its route's breaker (Router.report).
-- KEYS[1] the route's hash
-- ARGV[1] now (unix s), ARGV[2] outcome: ok | route | transient | release, ARGV[3] cooldown (s),
-- ARGV[4] transient failures in a row that open the breaker, ARGV[5] reason (the failure)
-- Returns the breaker's state afterwards: closed | half_open | open.
-- ok (accepted, or refused for the number's sake: the route answered) closes it and ends a run;
-- route (credentials, quota, account, sender) opens it at once; transient counts a run and
-- opens it at the threshold, or at once while half-open (the probe failed); release hands a
-- probe back unused. An open breaker stays open ARGV[3] seconds, then a claim's pick
-- (pick_route in the prelude) lets one probe through.
local key, now, outcome = KEYS[1], ARGV[1], ARGV[2]
local state = redis.call('HGET', key, 'state') or 'closed'
if outcome == 'release' then
  redis.call('HDEL', key, 'probe_until')
  return state
end
if outcome == 'ok' then
  redis.call('HSET', key, 'run', '0')
  redis.call('HDEL', key, 'probe_until')
  if state ~= 'closed' then
    redis.call('HSET', key, 'state', 'closed', 'changed_at', now, 'reason', 'a call went through again')
  end
  return 'closed'
end
redis.call('HSET', key, 'last_error', ARGV[5], 'last_error_at', now)
local run = redis.call('HINCRBY', key, 'run', 1)
if outcome == 'route' or state == 'half_open' or run >= tonumber(ARGV[4]) then
  local why = ARGV[5]
  if outcome == 'transient' and state ~= 'half_open' then
    why = run .. ' transient failures in a row, the last: ' .. ARGV[5]
  end
  if state ~= 'open' then redis.call('HSET', key, 'state', 'open', 'changed_at', now) end
  redis.call('HSET', key, 'reason', why, 'run', '0',
    'open_until', tostring(tonumber(now) + tonumber(ARGV[3])))
  redis.call('HDEL', key, 'probe_until')
  redis.call('HINCRBY', key, 'opened', 1)
  return 'open'
end
return state
