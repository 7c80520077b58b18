-- Start the satisfaction survey of a resolved ticket, on its slot {c:ID}:
-- one per resolved episode (or per resolve, when asked again is allowed).
-- KEYS[1] conversation hash  KEYS[2] history stream
-- ARGV[1] survey id  ARGV[2] kind (csat, nps)  ARGV[3] answers accepted until (ms)
-- ARGV[4] now (ms)  ARGV[5] "1" to ask again after a reopen and a new resolve
-- Returns {code, survey id}
--   1 started (the id given), 0 already started for this episode (its id),
--   -1 no such conversation, -2 the ticket is not resolved
local f = redis.call('HMGET', KEYS[1], 'status', 'sv_id', 'sv_round', 'reopen_count')
if not f[1] then return {-1, ''} end
if f[1] ~= 'resolved' then return {-2, ''} end
local round = f[4] or '0'
if f[2] and (ARGV[5] ~= '1' or f[3] == round) then return {0, f[2]} end
redis.call('HDEL', KEYS[1], 'sv_score', 'sv_comment', 'sv_comment_until')
redis.call('HSET', KEYS[1], 'sv_id', ARGV[1], 'sv_kind', ARGV[2], 'sv_until', ARGV[3], 'sv_state', 'asked',
  'sv_round', round, 'sv_at', ARGV[4])
redis.call('XADD', KEYS[2], '*', 'at', ARGV[4], 'actor', 'system', 'field', 'survey', 'to', 'asked:' .. ARGV[2])
return {1, ARGV[1]}
