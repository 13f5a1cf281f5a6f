-- route_country.lua: what one provider call says about a (route, destination country) breaker
-- (Router.report_country).
-- KEYS[1] the route's hash, KEYS[2] the route's country breakers (route:<name>:cc)
-- ARGV[1] now (unix s), ARGV[2] outcome: ok | country | release, ARGV[3] the country (region
-- code), ARGV[4] cooldown (s), ARGV[5] country refusals in a row that open it, ARGV[6] reason
-- Returns the country's breaker afterwards: closed | open.
-- ok (a send to that country was accepted on the route) forgets the country: its run, its
-- breaker, its probe; once no country is left the route's hash drops `countries`, so a pick
-- stops asking. country (the route said it does not serve that country) counts a run and opens
-- the breaker at ARGV[5] in a row, or at once when the cooldown is over (the probe was refused);
-- the route's hash says `countries` from the first one. release hands a probe back unused.
-- Bounded: at most the regions of PINRELAY_PHONE_REGIONS, seven fields each.
local route, cc_key, now, outcome, cc = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local function f(name) return cc .. ':' .. name end
if outcome == 'release' then
  redis.call('HDEL', cc_key, f('probe_until'))
  return 'closed'
end
if outcome == 'ok' then
  redis.call('HDEL', cc_key, f('run'), f('open_until'), f('probe_until'), f('reason'), f('changed_at'),
    f('last_error'), f('last_error_at'))
  if redis.call('HLEN', cc_key) == 0 then redis.call('HDEL', route, 'countries') end
  return 'closed'
end
redis.call('HSET', route, 'countries', '1')
local open_until = tonumber(redis.call('HGET', cc_key, f('open_until')) or '')
local run = redis.call('HINCRBY', cc_key, f('run'), 1)
redis.call('HSET', cc_key, f('last_error'), ARGV[6], f('last_error_at'), now)
if (open_until and tonumber(now) >= open_until) or run >= tonumber(ARGV[5]) then
  redis.call('HSET', cc_key, f('open_until'), tostring(tonumber(now) + tonumber(ARGV[4])), f('run'), '0',
    f('changed_at'), now, f('reason'), run .. ' refusal(s) for this country in a row, the last: ' .. ARGV[6])
  redis.call('HDEL', cc_key, f('probe_until'))
  return 'open'
end
if open_until then return 'open' end
return 'closed'
