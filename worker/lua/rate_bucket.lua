-- rate_bucket.lua: take one token of the shared send rate (RedisTokenBucket.acquire).
-- requires: prelude
-- KEYS[1] bucket hash {tokens, ts, pause_until} (no TTL: one small key per deployment)
-- ARGV[1] rate (tokens/s), ARGV[2] burst (tokens)
-- Returns ms to wait: 0 when a token was taken, else until one is due (or the pause ends).
-- Uses Redis's clock (TIME), so every worker on every host shares one budget. A send's own
-- attempt takes its token inside claim.lua (the same take_token, one round trip less).
return take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
