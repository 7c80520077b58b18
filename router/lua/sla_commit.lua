-- Store an SLA sync's result, on the conversation's slot {c:ID}, only if
-- nothing moved since it read (its cursors are still the stored ones and
-- neither stream grew): the fold's state, its cursors, the due time and
-- flag the inbox shows, and each new outcome as a history entry.
-- KEYS[1] conversation hash  KEYS[2] history stream  KEYS[3] transcript
-- ARGV[1] sla_h read  ARGV[2] sla_m read  ARGV[3] history tail read  ARGV[4] transcript tail read
-- ARGV[5] state JSON  ARGV[6] next due (ms) or ""  ARGV[7] flag ("", warning, breached)
-- ARGV[8] new sla_m  ARGV[9] new sla_h when no outcome is added
-- ARGV[10..] outcome pairs: at (ms), value ("breached:first_response", ...)
-- Returns {1, id of each outcome entry...} or {0} when something moved
local cur = redis.call('HMGET', KEYS[1], 'sla_h', 'sla_m', 'sla_n')
local h, m, n = cur[1] or '', cur[2] or '', cur[3] or ''
if h ~= ARGV[1] or m ~= ARGV[2] then return {0} end
local function tail(key)
  local t = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #t == 0 then return '' end
  return t[1][1]
end
if tail(KEYS[2]) ~= ARGV[3] or tail(KEYS[3]) ~= ARGV[4] then return {0} end
local out = {1}
local newH = ARGV[9]
for i = 10, #ARGV, 2 do
  local id = redis.call('XADD', KEYS[2], '*', 'at', ARGV[i], 'actor', 'system', 'field', 'sla', 'to', ARGV[i + 1])
  table.insert(out, id)
  newH = id
end
if #out == 1 then
  -- Nothing to tell: notifications are caught up when they were.
  if n == '' or n == h then redis.call('HSET', KEYS[1], 'sla_n', newH) end
elseif n == '' then
  redis.call('HSET', KEYS[1], 'sla_n', h ~= '' and h or '0-0')
end
redis.call('HSET', KEYS[1], 'sla', ARGV[5], 'sla_h', newH, 'sla_m', ARGV[8])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'sla_due', ARGV[6]) else redis.call('HDEL', KEYS[1], 'sla_due') end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'sla_flag', ARGV[7]) else redis.call('HDEL', KEYS[1], 'sla_flag') end
return out
