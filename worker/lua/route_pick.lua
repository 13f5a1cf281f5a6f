-- route_pick.lua: the route of a send's next attempt, from every route's breaker (Router.pick).
-- requires: prelude
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
-- A send's own attempt picks inside claim.lua (the same pick_route, one round trip less).
local now = tonumber(ARGV[2])
local routes = {}
for i = 8, #ARGV do routes[#routes + 1] = ARGV[i] end
local r = redis.call('HMGET', KEYS[1], 'state', 'to', 'expires_at')
if r[1] ~= 'queued' or redis.call('EXISTS', KEYS[2]) == 0 or (r[3] and now > tonumber(r[3])) then
  return {'claim', routes[1]}
end
return pick_route(ARGV[1], now, ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]),
  tonumber(ARGV[7]), routes, r[2])
