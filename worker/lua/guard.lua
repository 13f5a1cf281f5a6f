-- guard.lua: the pumping guard's decision (worker/guard/), a library create.lua runs in the same
-- step that stores the sends, so no entry point can go around it. Not a script of its own.
-- Its part of create.lua's ARGV (worker/guard/decide.py builds it) starts at `base`: G, the
-- number of guard arguments (0: no guard in this call), then now (unix ms), origin, UTC hour
-- slot, day slot, 10-minute slot, per-origin hourly and daily quota, daily spend cap, the
-- origin's send-share interval and tolerance (ms; 0: off), the prefix guard's mode (enforce,
-- monitor, off), its window, grace and block (ms), minimum judged sends, minimum conversion
-- rate, the block index's cap; then 5 per send of the call, in order: country, its hourly cap,
-- its 10-minute cap, the price estimate, flags ('j': judged by the prefix guard, 's': on the
-- configured safe list). A quota or cap of 0 is off.
-- guard_admit answers nil (admitted: counted in memory) or {rule, retry ms or -1}; the
-- counters are written by guard_commit, once, for every admitted send: a refused send counts
-- against nothing. Keys and their TTLs: worker/guard/keys.py.
local GUARD_FIXED, GUARD_PER_SEND = 17, 5
local HOUR_TTL, DAY_TTL, BURST_TTL, PEAK_TTL = 7200, 172800, 1200, 90000

local function guard_new(prefix, base)
  local n = tonumber(ARGV[base])
  if n == 0 then return nil, n end
  local function a(i) return ARGV[base + i] end
  local g = {prefix = prefix, now = tonumber(a(1)), origin = a(2), hour = a(3), day = a(4),
    slot = a(5), key_hourly = tonumber(a(6)), key_daily = tonumber(a(7)), cap = tonumber(a(8)),
    interval = tonumber(a(9)), tolerance = tonumber(a(10)), mode = a(11), window = tonumber(a(12)),
    grace = tonumber(a(13)), block = tonumber(a(14)), min_sends = tonumber(a(15)),
    min_conv = tonumber(a(16)), index_max = tonumber(a(17)), sends_at = base + GUARD_FIXED + 1,
    counters = {}, order = {}, blocks = {}, judged = {}, judged_order = {}, stats = {}, sent = {},
    spent = nil, added_spend = 0, spend_written = 0, tat = nil, admitted = 0, peaks = {},
    origin_known = false}
  return g, n
end

local function guard_stat(g, field)
  g.stats[field] = (g.stats[field] or 0) + 1
end

-- a counter, touched once per call: {key, count before this call, count added here (admitted
-- sends), written (the unit the first touch took at once), its TTL, limit, quota}. The first
-- touch is an INCRBY, not a GET: a call of one admitted send then costs one command per counter,
-- and a refused call gives its units back (guard_discard)
local function guard_counter(g, key, ttl, limit, quota)
  local c = g.counters[key]
  if not c then
    local count = redis.call('INCRBY', g.prefix .. key, 1)
    if count == 1 then
      redis.call('EXPIRE', g.prefix .. key, ttl)
      if quota == 'key_daily' then g.origin_known = 'new' end
    elseif quota == 'key_daily' then
      g.origin_known = true -- counted today already, so listed in guard:origins:<day>
    end
    c = {key = key, stored = count - 1, added = 0, written = 1, ttl = ttl, limit = limit, quota = quota}
    g.counters[key] = c
    g.order[#g.order + 1] = c
  end
  return c
end

-- the configured safe list was matched in Python (flag 's': an entry starts the number; 'p': an
-- entry starts its prefix); the run-time one is a set of prefixes and numbers: one SMISMEMBER
-- over every start of `digits` it could hold. A send is let through a block when its number is
-- safe; a prefix is never blocked when the prefix itself is (a safe number does not shield the
-- rest of its range)
local function guard_safe(g, flags, digits, flag)
  if flags:find(flag, 1, true) then return true end
  local candidates = {}
  for len = 4, #digits do candidates[#candidates + 1] = digits:sub(1, len) end
  for _, hit in ipairs(redis.call('SMISMEMBER', g.prefix .. 'guard:safe', unpack(candidates))) do
    if hit == 1 then return true end
  end
  return false
end

local function guard_refuse(g, rule, retry)
  guard_stat(g, 'guard:' .. rule .. ':enforce')
  return {rule, retry}
end

local function guard_admit(g, k, number)
  local at = g.sends_at + (k - 1) * GUARD_PER_SEND
  local cc, hcap, bcap, est, flags = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]),
    tonumber(ARGV[at + 3]), ARGV[at + 4]
  local pfx = number:sub(1, #number - 4)
  if g.mode ~= 'off' and not g.failed then
    local left = g.blocks[pfx]
    if left == nil then
      -- the prefix guard's own data: if it cannot be read, fail open (the quotas stay strict)
      local ok, found = pcall(function()
        local name = g.mode == 'enforce' and 'guard:block:' or 'guard:wouldblock:'
        local ttl = redis.call('PTTL', g.prefix .. name .. pfx)
        if ttl ~= -2 and guard_safe(g, flags, number, 's') then ttl = -2 end
        return ttl
      end)
      if not ok then
        g.failed = found
        left = -2
      else
        left = found
      end
      g.blocks[pfx] = left
    end
    if left ~= -2 then
      if g.mode == 'enforce' then return guard_refuse(g, 'prefix_blocked', left) end
      guard_stat(g, 'guard:prefix_blocked:monitor') -- what enforce would have refused
    end
  end
  local checks = {}
  if g.key_hourly > 0 then
    checks[#checks + 1] = guard_counter(g, 'guard:q:key:h:' .. g.origin .. ':' .. g.hour, HOUR_TTL,
      g.key_hourly, 'key_hourly')
  end
  if g.key_daily > 0 then
    checks[#checks + 1] = guard_counter(g, 'guard:q:key:d:' .. g.origin .. ':' .. g.day, DAY_TTL,
      g.key_daily, 'key_daily')
  end
  if hcap > 0 then
    checks[#checks + 1] = guard_counter(g, 'guard:q:cty:h:' .. cc .. ':' .. g.hour, HOUR_TTL, hcap,
      'country_hourly')
  end
  if bcap > 0 then
    checks[#checks + 1] = guard_counter(g, 'guard:q:cty:b:' .. cc .. ':' .. g.slot, BURST_TTL, bcap,
      'country_burst')
  end
  for _, c in ipairs(checks) do
    if c.stored + c.added >= c.limit then return guard_refuse(g, c.quota, -1) end
  end
  if g.cap > 0 then
    if g.spent == nil then -- the first estimate is added at once (given back if the call is refused)
      local key = g.prefix .. 'guard:spend:' .. g.day
      g.spent = (tonumber(redis.call('INCRBYFLOAT', key, tostring(est))) or est) - est
      g.spend_written = est
      if g.spent <= 0 then redis.call('EXPIRE', key, DAY_TTL) end
    end
    if g.spent + g.added_spend + est > g.cap then return guard_refuse(g, 'spend_cap', -1) end
  end
  local tat
  if g.interval > 0 then
    if g.tat == nil then
      g.tat = tonumber(redis.call('GET', g.prefix .. 'guard:share:' .. g.origin) or '0') or 0
    end
    tat = math.max(g.tat, g.now)
    if tat - g.now > g.tolerance then
      return guard_refuse(g, 'key_send_share', math.ceil(tat - g.now - g.tolerance))
    end
  end
  -- admitted: count it (in memory until guard_commit)
  for _, c in ipairs(checks) do c.added = c.added + 1 end
  g.added_spend = g.added_spend + est
  if tat then g.tat = tat + g.interval end
  g.admitted = g.admitted + 1
  if g.mode ~= 'off' and not g.failed and flags:find('j', 1, true) then
    local j = g.judged[pfx]
    if not j then
      j = {pfx = pfx, number = number, flags = flags, members = {}}
      g.judged[pfx] = j
      g.judged_order[#g.judged_order + 1] = j
    end
    j.members[#j.members + 1] = tostring(g.now)
    j.members[#j.members + 1] = k
    g.sent[cc] = (g.sent[cc] or 0) + 1 -- written with the commit, never for a refused call
  end
  return nil
end

local function guard_peak(g, quota, ratio)
  if ratio >= 0.5 and ratio > (g.peaks[quota] or 0) then g.peaks[quota] = ratio end
end

-- judge a prefix once its window holds enough sends: block it (enforce) or list it (monitor)
-- while fewer than min_conv of its judged sends converted. Returns an event or nil.
local function guard_judge(g, j, stem)
  local kp, kc = g.prefix .. 'guard:pfx:' .. j.pfx, g.prefix .. 'guard:conv:' .. j.pfx
  local members = {}
  for i = 1, #j.members, 2 do
    members[#members + 1] = j.members[i]
    members[#members + 1] = stem .. j.members[i + 1]
  end
  redis.call('ZADD', kp, unpack(members))
  redis.call('PEXPIRE', kp, g.window)
  -- listed already (monitor mode sends on; enforce refused before): judged once, not per send
  if g.blocks[j.pfx] ~= nil and g.blocks[j.pfx] ~= -2 then return nil end
  if redis.call('ZCARD', kp) < g.min_sends then return nil end
  local since = '(' .. tostring(g.now - g.window)
  redis.call('ZREMRANGEBYSCORE', kp, '-inf', since)
  redis.call('ZREMRANGEBYSCORE', kc, '-inf', since)
  local graced = tostring(g.now - g.grace)
  local judged = redis.call('ZCOUNT', kp, '-inf', graced) + redis.call('ZCOUNT', kc, '(' .. graced, '+inf')
  local converted = redis.call('ZCARD', kc)
  if judged < g.min_sends or converted >= g.min_conv * judged then return nil end
  if guard_safe(g, j.flags, j.pfx, 'p') then return nil end
  local enforce = g.mode == 'enforce'
  local hash = g.prefix .. (enforce and 'guard:block:' or 'guard:wouldblock:') .. j.pfx
  local index = g.prefix .. (enforce and 'guard:blocked' or 'guard:wouldblock')
  local since_ms = redis.call('HGET', hash, 'since') or tostring(g.now)
  local untill = tostring(g.now + g.block)
  redis.call('HSET', hash, 'since', since_ms, 'until', untill, 'sends', judged, 'conversions', converted)
  redis.call('PEXPIRE', hash, g.block)
  redis.call('ZADD', index, untill, j.pfx)
  redis.call('ZREMRANGEBYRANK', index, 0, -(g.index_max + 1))
  guard_stat(g, enforce and 'guard:blocks:enforce' or 'guard:prefix_would_block:monitor')
  return {enforce and 'block' or 'would_block', j.pfx, tostring(judged), tostring(converted)}
end

-- the call was refused: only the refusal's count is written, no quota is spent
local function guard_discard(g)
  for _, c in ipairs(g.order) do redis.call('DECRBY', g.prefix .. c.key, c.written) end
  if g.spend_written ~= 0 then
    redis.call('INCRBYFLOAT', g.prefix .. 'guard:spend:' .. g.day, tostring(-g.spend_written))
  end
  for field, n in pairs(g.stats) do -- the refusal's own count; nothing the refused sends did
    if field:sub(-8) == ':enforce' then redis.call('HINCRBY', g.prefix .. K_STATS, field, n) end
  end
end

-- the prefix guard's own data could not be read or written (a key of the wrong type, say): the
-- sends go ahead without it (fail open; the quotas, caps and share were applied); counted, and
-- handed back to be logged as a 'fail_open' event
local function guard_failed(g, err, events)
  redis.call('HINCRBY', g.prefix .. K_STATS, 'guard:fail_open:' .. g.mode, 1)
  events[#events + 1] = {'fail_open', tostring(err):sub(1, 200), '0', '0'}
  return events
end

-- write what the admitted sends used; `stem` names their members in the prefix windows.
-- Returns the blocks made ({kind, prefix, judged, converted} each).
local function guard_commit(g, stem)
  local events = {}
  if not g or g.admitted == 0 then
    if g then guard_discard(g) end
    return events
  end
  for _, c in ipairs(g.order) do
    if c.added > c.written then redis.call('INCRBY', g.prefix .. c.key, c.added - c.written) end
    guard_peak(g, c.quota, (c.stored + c.added) / c.limit)
  end
  local more = g.added_spend - g.spend_written
  if more > 0 then
    local key = g.prefix .. 'guard:spend:' .. g.day
    if tonumber(redis.call('INCRBYFLOAT', key, tostring(more))) <= more then
      redis.call('EXPIRE', key, DAY_TTL)
    end
  end
  if g.cap > 0 then guard_peak(g, 'spend_cap', ((g.spent or 0) + g.added_spend) / g.cap) end
  if g.interval > 0 then
    redis.call('SET', g.prefix .. 'guard:share:' .. g.origin, tostring(g.tat), 'PX',
      math.max(1, math.ceil(g.tat - g.now + g.tolerance)))
  end
  if g.origin_known ~= true then -- the origin's first send today (or no daily quota to tell)
    local origins = g.prefix .. 'guard:origins:' .. g.day
    if redis.call('SADD', origins, g.origin) == 1 then redis.call('EXPIRE', origins, DAY_TTL) end
  end
  if next(g.peaks) then
    local key = g.prefix .. 'guard:peak:' .. g.hour
    for quota, ratio in pairs(g.peaks) do
      if ratio > (tonumber(redis.call('HGET', key, quota) or '0') or 0) then
        redis.call('HSET', key, quota, tostring(ratio))
      end
    end
    redis.call('EXPIRE', key, PEAK_TTL)
  end
  for _, j in ipairs(g.judged_order) do
    local ok, event = pcall(guard_judge, g, j, stem)
    if not ok then
      g.failed = event
      break
    end
    if event then events[#events + 1] = event end
  end
  for cc, n in pairs(g.sent) do redis.call('HINCRBY', g.prefix .. K_STATS, 'guard:sent:' .. cc, n) end
  for field, n in pairs(g.stats) do redis.call('HINCRBY', g.prefix .. K_STATS, field, n) end
  if g.failed then return guard_failed(g, g.failed, events) end
  return events
end
