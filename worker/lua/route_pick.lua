-- route_pick.lua: the route of a send's next attempt, from every route's breaker (Router.pick).
-- KEYS[1] record hash, KEYS[2] PIN key
-- ARGV[1] route key prefix ({prefix}route:), ARGV[2] now (unix s), ARGV[3] mode: first | stay |
-- after, ARGV[4] the route `stay`/`after` names (or ""), ARGV[5] probe share (0..1), ARGV[6] a
-- random draw (0..1), ARGV[7] probe lease (s), ARGV[8..] the configured routes, in order
-- Returns {'route', name, how} (how: closed | closed_run, closed with transient failures counted
-- since its last success | probe | degraded_share | degraded_only),
-- {'wait', seconds until a route may be usable}, {'denied', route} (the number opted out on
-- that route: no route may send it), or {'claim', first route} when the send is not waiting
-- to be sent (the claim settles it: done, expired, a dead worker's call).
-- Order: `first` the configured order; `after` the routes after that one, then from the
-- start (so a failed-over send comes back round); `stay` that route first. A closed route
-- is taken unless degraded (its delivery rate is low), which gets only the probe share
-- while a healthy route remains. An open route whose cooldown is over lets exactly one
-- attempt through (half-open: the probe, leased so a dead worker's probe is retaken).
local rk, now, mode, ref = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local share, draw, lease = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local routes = {}
for i = 8, #ARGV do routes[#routes + 1] = ARGV[i] end
local r = redis.call('HMGET', KEYS[1], 'state', 'to', 'expires_at')
if r[1] ~= 'queued' or redis.call('EXISTS', KEYS[2]) == 0 or (r[3] and now > tonumber(r[3])) then
  return {'claim', routes[1]}
end
for _, name in ipairs(routes) do
  if r[2] and redis.call('SISMEMBER', rk .. name .. ':deny', r[2]) == 1 then return {'denied', name} end
end
local order, start = {}, 1
if mode == 'stay' then order[1] = ref end
if mode == 'after' then
  for i, name in ipairs(routes) do if name == ref then start = i + 1 end end
end
for i = start, #routes do order[#order + 1] = routes[i] end
for i = 1, start - 1 do order[#order + 1] = routes[i] end
local wait, fallback = nil, nil
local function later(seconds)
  if not wait or seconds < wait then wait = seconds end
end
for _, name in ipairs(order) do
  local key = rk .. name
  local b = redis.call('HMGET', key, 'state', 'open_until', 'probe_until', 'health', 'run')
  local state = b[1] or 'closed'
  if state == 'closed' then
    if b[4] ~= 'degraded' then
      return {'route', name, (b[5] and b[5] ~= '0') and 'closed_run' or 'closed'}
    end
    if draw < share then return {'route', name, 'degraded_share'} end
    fallback = fallback or name
  elseif state == 'open' and now < tonumber(b[2] or '0') then
    later(tonumber(b[2]) - now)
  elseif tonumber(b[3] or '0') > now then
    later(math.min(tonumber(b[3]) - now, 1))  -- the probe is out: look again within a second
  else
    if state ~= 'half_open' then redis.call('HSET', key, 'state', 'half_open', 'changed_at', ARGV[2]) end
    redis.call('HSET', key, 'probe_until', tostring(now + lease))
    return {'route', name, 'probe'}
  end
end
if fallback then return {'route', fallback, 'degraded_only'} end
return {'wait', tostring(wait or 1)}
