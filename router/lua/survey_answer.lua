-- Record an answer to a ticket's survey from its page or the widget, on
-- the slot {c:ID}: the score once, then a comment once.
-- KEYS[1] conversation hash  KEYS[2] history stream
-- ARGV[1] survey id  ARGV[2] score or ""  ARGV[3] comment or ""  ARGV[4] now (ms)
-- ARGV[5] unused (kept for the callers' argument list)
-- Returns {code, state, kind, score}
--   code 1 recorded, 0 nothing new (already answered), -1 no such survey,
--   -2 the survey is closed, -3 the score is out of range
-- state: asked, answered (scored) or commented
local f = redis.call('HMGET', KEYS[1], 'sv_id', 'sv_kind', 'sv_until', 'sv_state', 'sv_score')
if not f[1] or f[1] ~= ARGV[1] then return {-1, '', '', ''} end
local kind, state, score = f[2], f[4], f[5] or ''
local now = tonumber(ARGV[4])
if now > tonumber(f[3]) then return {-2, state, kind, score} end
local code = 0
if ARGV[2] ~= '' and state == 'asked' then
  local s = tonumber(ARGV[2])
  local lo, hi = 1, 5
  if kind == 'nps' then lo, hi = 0, 10 end
  if not s or s < lo or s > hi or s ~= math.floor(s) then return {-3, state, kind, score} end
  -- No window for a typed comment: the page takes its own, and the
  -- customer's next message is a message.
  redis.call('HSET', KEYS[1], 'sv_state', 'answered', 'sv_score', ARGV[2])
  redis.call('XADD', KEYS[2], '*', 'at', ARGV[4], 'actor', 'customer', 'field', kind, 'to', ARGV[2])
  state, score, code = 'answered', ARGV[2], 1
end
if ARGV[3] ~= '' and state == 'answered' then
  redis.call('HSET', KEYS[1], 'sv_state', 'commented', 'sv_comment', ARGV[3])
  redis.call('XADD', KEYS[2], '*', 'at', ARGV[4], 'actor', 'customer', 'field', 'survey_comment', 'to', ARGV[3])
  state, code = 'commented', 1
end
return {code, state, kind, score}
