-- An agent's reply or internal note, on the conversation's slot {c:ID}.
-- KEYS[1] conversation hash  KEYS[2] transcript  KEYS[3] delivery hash
-- KEYS[4] idempotency key    KEYS[5] live channel  KEYS[6] history stream
-- ARGV[1] message id  ARGV[2] direction out|note  ARGV[3] text  ARGV[4] author id
-- ARGV[5] author name  ARGV[6] now (ms)  ARGV[7] idempotency TTL (s) or 0
-- ARGV[8] preview  ARGV[9] live payload
-- ARGV[10] reply window (ms) after the customer's last message; 0 or absent when the channel has none
-- ARGV[11] kind (text, or image for pictures without text; absent = text)
-- ARGV[12] attachments JSON, stored as the entry's att field like inbound ones; "" or absent for none
-- ARGV[13] "1" for an automatic message (a survey, the bot's answer): it is not a response,
--   so it neither opens the ticket nor counts as the first or last reply; absent = "0"
-- ARGV[14] fields JSON (the entry's f field), "" or absent for none
-- Returns {code, message id, stream id}
--   code 1 added, 0 repeated idempotency key (the earlier message's id), -1 no such conversation,
--   -2 conversation closed (replies refused),
--   -3 reply window closed (replies refused; the second element is the window's end in ms)
if ARGV[7] ~= '0' then
  local prev = redis.call('GET', KEYS[4])
  if prev then return {0, prev, ''} end
end
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {-1, '', ''} end
if st == 'closed' and ARGV[2] == 'out' then return {-2, '', ''} end
local window = tonumber(ARGV[10] or '0') or 0
if ARGV[2] == 'out' and window > 0 then
  -- The window opens with the customer's last message (the creation when
  -- that is missing); checked here so a message that just came in counts.
  local last = redis.call('HGET', KEYS[1], 'last_in_at') or redis.call('HGET', KEYS[1], 'created_at')
  local ends = (tonumber(last) or 0) + window
  if tonumber(ARGV[6]) > ends then return {-3, ends, ''} end
end
local kind = ARGV[11]
if not kind or kind == '' then kind = 'text' end
local entry = {'id', ARGV[1], 'dir', ARGV[2], 'kind', kind,
  'text', ARGV[3], 'at', ARGV[6], 'author', ARGV[4], 'aname', ARGV[5]}
if ARGV[12] and ARGV[12] ~= '' then table.insert(entry, 'att'); table.insert(entry, ARGV[12]) end
if ARGV[14] and ARGV[14] ~= '' then table.insert(entry, 'f'); table.insert(entry, ARGV[14]) end
local sid = redis.call('XADD', KEYS[2], '*', unpack(entry))
if ARGV[2] == 'out' and ARGV[13] == '1' then
  redis.call('HSET', KEYS[3], ARGV[1], 'queued', ARGV[1] .. ':at', ARGV[6])
  redis.call('HSET', KEYS[1], 'last_message_at', ARGV[6], 'preview', ARGV[8])
elseif ARGV[2] == 'out' then
  redis.call('HSET', KEYS[3], ARGV[1], 'queued', ARGV[1] .. ':at', ARGV[6])
  redis.call('HSET', KEYS[1], 'last_message_at', ARGV[6], 'last_out_at', ARGV[6], 'preview', ARGV[8])
  if redis.call('HSETNX', KEYS[1], 'first_response_at', ARGV[6]) == 1 and st == 'new' then
    redis.call('HSET', KEYS[1], 'status', 'open')
    redis.call('XADD', KEYS[6], '*', 'at', ARGV[6], 'actor', ARGV[4], 'field', 'status', 'from', 'new', 'to', 'open')
  end
end
redis.call('HINCRBY', KEYS[1], 'msg_count', 1)
if ARGV[7] ~= '0' then redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[7]) end
redis.call('PUBLISH', KEYS[5], ARGV[9])
return {1, ARGV[1], sid}
