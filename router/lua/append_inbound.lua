-- Ingest, step 2 of 2, on the conversation's slot {c:ID}: create the
-- conversation if new, reopen it if resolved, append the message once.
-- KEYS[1] conversation hash   KEYS[2] transcript stream   KEYS[3] appended dedup keys
-- KEYS[4] history stream      KEYS[5] live channel
-- ARGV[1] message id  ARGV[2] dedup member or ""  ARGV[3] now (ms)  ARGV[4] customer id
-- ARGV[5] channel  ARGV[6] account  ARGV[7] identity "type:value"  ARGV[8] identity tag
-- ARGV[9] customer name  ARGV[10] preview  ARGV[11] kind  ARGV[12] text
-- ARGV[13] attachments JSON or ""  ARGV[14] fields JSON or ""  ARGV[15] raw or ""
-- ARGV[16] external id  ARGV[17] live payload (id line left empty)
-- ARGV[19] the thread key ("" for none)
-- ARGV[20] the message read as a survey score ("" when it reads as none)
-- ARGV[21] how long a typed comment is taken after a score (ms)
-- ARGV[22] the message as a survey comment (the text, bounded)
-- ARGV[18] "1" when the message is passive: it reopens neither the reply
-- window nor a resolved or pending ticket
-- Returns {code, status, assignee, created, reopened, stream id, team, status before, sla, survey, bot}
--   sla is 1 when the message may start or resume an SLA clock of the
--   ticket (it changed the status, or it is the customer's first message
--   since the last reply), so the caller wakes the ticket's SLA sync;
--   survey is 1 when the message answered the resolved ticket's survey with
--   a score, 2 with a comment: it is recorded and reopens nothing; bot is 1
--   when the FAQ bot has the conversation (the caller hands it the message)
--   code 1 appended, 0 already appended, -1 conversation closed (start a new one)
local function state()
  local v = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'team')
  return v[1] or '', v[2] or '', v[3] or ''
end
local created, reopened = 0, 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'id', string.match(KEYS[1], '{c:(.-)}'), 'customer_id', ARGV[4],
    'channel', ARGV[5], 'account', ARGV[6], 'identity', ARGV[7], 'itag', ARGV[8],
    'name', ARGV[9], 'status', 'new', 'priority', 'normal', 'created_at', ARGV[3], 'msg_count', 0,
    'subject', ARGV[10])
  if ARGV[19] and ARGV[19] ~= '' then redis.call('HSET', KEYS[1], 'thread', ARGV[19]) end
  redis.call('XADD', KEYS[4], '*', 'at', ARGV[3], 'actor', 'customer', 'field', 'created', 'to', 'new')
  created = 1
end
if ARGV[2] ~= '' and redis.call('SADD', KEYS[3], ARGV[2]) == 0 then
  local st, who, team = state()
  return {0, st, who, created, 0, '', team, st}
end
local st, who, team = state()
if st == 'closed' then
  if ARGV[2] ~= '' then redis.call('SREM', KEYS[3], ARGV[2]) end
  return {-1, st, who, created, 0, '', team, st}
end
local before = st
local survey = 0
if st == 'resolved' and ARGV[18] ~= '1' and ARGV[20] then
  local sv = redis.call('HMGET', KEYS[1], 'sv_id', 'sv_kind', 'sv_until', 'sv_state', 'sv_comment_until')
  local now = tonumber(ARGV[3])
  if sv[1] and now <= tonumber(sv[3]) then
    local s = tonumber(ARGV[20])
    local lo, hi = 1, 5
    if sv[2] == 'nps' then lo, hi = 0, 10 end
    if sv[4] == 'asked' and s and s >= lo and s <= hi then
      redis.call('HSET', KEYS[1], 'sv_state', 'answered', 'sv_score', ARGV[20],
        'sv_comment_until', now + tonumber(ARGV[21]))
      redis.call('XADD', KEYS[4], '*', 'at', ARGV[3], 'actor', 'customer', 'field', sv[2], 'to', ARGV[20])
      survey = 1
    elseif sv[4] == 'answered' and sv[5] and now <= tonumber(sv[5]) and ARGV[11] == 'text' and ARGV[22] ~= '' then
      redis.call('HSET', KEYS[1], 'sv_state', 'commented', 'sv_comment', ARGV[22])
      redis.call('XADD', KEYS[4], '*', 'at', ARGV[3], 'actor', 'customer', 'field', 'survey_comment', 'to', ARGV[22])
      survey = 2
    end
  end
end
if ARGV[18] == '1' or survey > 0 then
  -- A passive event is recorded but neither reopens nor wakes the ticket.
elseif st == 'resolved' then
  redis.call('HSET', KEYS[1], 'status', 'open', 'reopened_at', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'reopen_count', 1)
  redis.call('XADD', KEYS[4], '*', 'at', ARGV[3], 'actor', 'customer', 'field', 'status', 'from', 'resolved', 'to', 'open')
  st, reopened = 'open', 1
elseif st == 'pending' then
  -- Pending waits for the customer; the customer answered.
  redis.call('HSET', KEYS[1], 'status', 'open')
  redis.call('XADD', KEYS[4], '*', 'at', ARGV[3], 'actor', 'customer', 'field', 'status', 'from', 'pending', 'to', 'open')
  st = 'open'
end
local entry = {'id', ARGV[1], 'dir', 'in', 'kind', ARGV[11], 'text', ARGV[12], 'at', ARGV[3]}
if ARGV[16] ~= '' then table.insert(entry, 'ext'); table.insert(entry, ARGV[16]) end
if ARGV[13] ~= '' then table.insert(entry, 'att'); table.insert(entry, ARGV[13]) end
if ARGV[14] ~= '' then table.insert(entry, 'f'); table.insert(entry, ARGV[14]) end
if ARGV[15] ~= '' then table.insert(entry, 'raw'); table.insert(entry, ARGV[15]) end
if ARGV[18] == '1' or survey > 0 then table.insert(entry, 'p'); table.insert(entry, '1') end
if survey > 0 then table.insert(entry, 'sv'); table.insert(entry, survey) end
local sla = 0
if ARGV[18] ~= '1' and survey == 0 and redis.call('HEXISTS', KEYS[1], 'sla') == 1 then
  local t = redis.call('HMGET', KEYS[1], 'last_in_at', 'last_out_at')
  if before ~= st or (t[2] and (not t[1] or tonumber(t[2]) >= tonumber(t[1]))) then sla = 1 end
end
local sid = redis.call('XADD', KEYS[2], '*', unpack(entry))
if ARGV[18] == '1' then
  redis.call('HSET', KEYS[1], 'last_message_at', ARGV[3], 'preview', ARGV[10])
else
  redis.call('HSET', KEYS[1], 'last_message_at', ARGV[3], 'last_in_at', ARGV[3], 'preview', ARGV[10])
end
redis.call('HINCRBY', KEYS[1], 'msg_count', 1)
redis.call('PUBLISH', KEYS[5], ARGV[17])
local bot = 0
if survey == 0 and ARGV[18] ~= '1' and redis.call('HGET', KEYS[1], 'bot') == 'active' then bot = 1 end
return {1, st, who, created, reopened, sid, team, before, sla, survey, bot}
