-- verify_mark.lua: claim the report of one send's conversion (VerifyStore.mark_reported).
-- KEYS[1] verification hash
-- ARGV[1] send number n
-- Returns 1 when this caller reports send n now (conv:<n> is set), 0 when it was claimed
-- before, or the verification is gone (a missing hash is not created).
-- Each send is marked before its report is enqueued, so a reporter that took the
-- verification over from one that failed half-way (verify_owed.lua's lease ran out)
-- reports only what the first did not: no send is reported twice.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'conv:' .. ARGV[1], '1')
