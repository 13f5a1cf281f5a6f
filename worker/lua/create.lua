-- create.lua: new sends, a chunk at a time, in one atomic step: their idempotency keys, the
-- sending limits, then the records (RecordStore.create / create_many / create_chunk; AbuseGuard).
-- requires: prelude guard
-- KEYS: none (keys are built from the prefix; the idempotency keys come whole in ARGV)
-- ARGV[1] key prefix, ARGV[2] record TTL (s), ARGV[3] mode: 'store', or 'check' (count the
-- limits, store nothing), ARGV[4] broker queue list or "" (no task messages), ARGV[5] L, the
-- number of limit arguments (0: no limits); ARGV[6..5+L] the limits: now (unix ms), member stem
-- (unique per call), per-number limit in 10 minutes, per-number limit per day, per-prefix limit
-- per minute (0 = off), the key prefixes of the per-number and per-prefix windows.
-- Then the pumping guard's part (guard.lua: G, then G arguments; G = 0 with no guard). The
-- guard runs after the limits, for each new send, and counts only what it admits.
-- Then one group per send. 'check': idempotency key or "", number (E.164 digits, no '+').
-- 'store': request id, idempotency key or "", number ("" without limits), PIN, PIN TTL (ms),
-- task message or "", client-ref or "", N, then N arguments: field, value, ... of the record.
-- Returns {'ok', one id per send}: the id stored, or the earlier one its idempotency key (also
-- one used earlier in the chunk) or its request id already stands for; with 'check', "" for a
-- new send; when the guard blocked a prefix (or would have, in monitor mode), a last element
-- lists those blocks ({kind, prefix, judged, converted} each). Or {limit, index, retry ms}:
-- 'number_day', 'number_10min', 'prefix_minute' or a guard rule (guard.lua) refused the send at
-- 0-based index; then nothing is stored, the sends before it count against the per-number and
-- per-prefix windows (the cautious side), and against none of the guard's quotas.
-- A repeat counts nothing and pushes nothing. The limits are sliding windows in sorted sets,
-- one per number (day and 10 minutes) and one per NPA-NXX prefix (a minute), each read once per
-- call and written with one ZADD, so a chunk costs a few commands per send, not a script call.
-- The PIN has its own key that expires with the request, so no PIN outlives its usefulness.
-- A caller's client-ref is indexed so a receipt for a send with no message-id yet (unconfirmed,
-- or overtaking the worker) can still find it: every send with it (the newest CLIENT_REF_HOLDERS),
-- as the receipt's number and message-id decide between them. A client-ref used again while
-- the index holds an earlier send with it is counted (stats `client_ref_reused`: ZCARD, since
-- the index is write-only for the producer's Redis role). With a queue, each task message
-- (kombu's Redis format) is pushed in the same step: a record never exists without its task.
local prefix, ttl, mode, queue = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nlimits = tonumber(ARGV[5])
local store = mode == 'store'
local BATCH = 500 -- arguments per variadic ZADD / LPUSH, well inside Lua's unpack limit

local function push(command, key, args, per)
  for from = 1, #args, BATCH * per do
    redis.call(command, key, unpack(args, from, math.min(#args, from + BATCH * per - 1)))
  end
end

local out, starts, fresh, held = {'ok'}, {}, {}, {}
local guard, nguard = guard_new(prefix, 6 + nlimits)
local i = 7 + nlimits + nguard
while i <= #ARGV do
  local n = #starts + 1
  starts[n] = i
  local id, idem = '', ARGV[i]
  if store then id, idem = ARGV[i], ARGV[i + 1] end
  local earlier = idem ~= '' and held[idem]
  if not earlier then
    local record = store and prefix .. K_REC .. id
    -- the usual send is new: one EXISTS finds neither its key nor its record
    local known = 1
    if record and idem ~= '' then known = redis.call('EXISTS', record, idem) end
    if known > 0 then
      if idem ~= '' then earlier = redis.call('GET', idem) end
      if not earlier and record and redis.call('EXISTS', record) == 1 then earlier = id end
    end
  end
  if earlier then
    out[n + 1] = earlier
  else
    out[n + 1] = id
    fresh[#fresh + 1] = n
    if idem ~= '' then held[idem] = store and id or '' end -- a repeat later in this chunk
  end
  if store then i = i + 8 + tonumber(ARGV[i + 7]) else i = i + 2 end
end

local events
if nlimits > 0 then
  -- numbers go to Redis as strings made once per call (each Lua number -> string is a printf)
  local now, stem = ARGV[6], ARGV[7]
  local n10, nday, npfx = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
  local knum, kpfx = ARGV[11], ARGV[12]
  local DAY, MINUTE = '86400000', '60000'
  local since = {[DAY] = tostring(tonumber(now) - 86400000), [MINUTE] = tostring(tonumber(now) - 60000)}
  local ten_minutes = tostring(tonumber(now) - 600000)
  local windows, used = {}, {}
  local function window(key, span)
    local w = windows[key]
    if not w then
      local count = redis.call('ZCOUNT', key, '-inf', '+inf')
      if count > 0 then count = count - redis.call('ZREMRANGEBYSCORE', key, '-inf', since[span]) end
      w = {key = key, span = span, count = count, added = {}}
      windows[key] = w
      used[#used + 1] = w
    end
    return w
  end
  local function count_in(w, member)
    if w then
      w.count = w.count + 1
      w.added[#w.added + 1] = now
      w.added[#w.added + 1] = member
    end
  end
  local function record(refused)
    for _, w in ipairs(used) do
      if #w.added > 0 then
        push('ZADD', w.key, w.added, 2)
        redis.call('PEXPIRE', w.key, w.span)
      end
    end
    if guard and refused then return guard_discard(guard) end -- a refused call spends no quota
    if guard then return guard_commit(guard, stem) end
  end
  for _, k in ipairs(fresh) do
    local number = ARGV[starts[k] + (store and 2 or 1)]
    local member = stem .. k
    local wn, wp
    if n10 > 0 or nday > 0 then
      wn = window(knum .. number, DAY)
      if nday > 0 and wn.count >= nday then record(true) return {'number_day', k - 1, -1} end
      -- the 10-minute count is at most the day's: read it only once the day's could reach it
      if n10 > 0 and wn.count >= n10 then
        wn.ten = wn.ten or redis.call('ZCOUNT', wn.key, ten_minutes, '+inf')
        if wn.ten + #wn.added / 2 >= n10 then record(true) return {'number_10min', k - 1, -1} end
      end
    end
    if npfx > 0 then
      wp = window(kpfx .. number:sub(1, 7), MINUTE)
      if wp.count >= npfx then record(true) return {'prefix_minute', k - 1, -1} end
    end
    if guard then
      local refused = guard_admit(guard, k, number)
      if refused then
        record(true)
        return {refused[1], k - 1, refused[2]}
      end
    end
    count_in(wn, member)
    count_in(wp, member)
  end
  events = record()
end
if events and #events > 0 then out[#out + 1] = events end

if not store or #fresh == 0 then return out end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6)
local pending, messages = {}, {}
for _, k in ipairs(fresh) do
  local at = starts[k]
  local id, idem, pin, pin_ttl, message, ref = ARGV[at], ARGV[at + 1], ARGV[at + 3], ARGV[at + 4],
    ARGV[at + 5], ARGV[at + 6]
  local key = prefix .. K_REC .. id
  redis.call('HSET', key, unpack(ARGV, at + 8, at + 7 + tonumber(ARGV[at + 7])))
  redis.call('EXPIRE', key, ttl)
  if pin ~= '' and tonumber(pin_ttl) > 0 then redis.call('SET', prefix .. K_PIN .. id, pin, 'PX', pin_ttl) end
  if idem ~= '' then redis.call('SET', idem, id, 'EX', ttl) end
  if ref ~= '' then
    local index = prefix .. K_REF .. ref
    -- counted, never listed: the producer's Redis role may not read the ids in the index
    if redis.call('ZCARD', index) > 0 then count(prefix, 'client_ref_reused') end
    redis.call('ZADD', index, now, id)
    redis.call('ZREMRANGEBYRANK', index, 0, -(CLIENT_REF_HOLDERS + 1))
    redis.call('EXPIRE', index, ttl)
  end
  pending[#pending + 1] = now
  pending[#pending + 1] = id
  if queue ~= '' and message ~= '' then messages[#messages + 1] = message end
end
push('ZADD', prefix .. K_PENDING, pending, 2)
if #messages > 0 then push('LPUSH', queue, messages, 1) end
return out
