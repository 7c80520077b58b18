-- Change a conversation's status, assignee, team or priority, on its slot
-- {c:ID}, recording each change in the ticket history and, for the
-- assignee, a system message in the transcript.
-- KEYS[1] conversation hash  KEYS[2] history stream  KEYS[3] transcript
-- ARGV[1] actor  ARGV[2] now (ms)  ARGV[3] system message id
-- ARGV[4] allowed current statuses, comma-separated, or "" for any
-- ARGV[5..] field/value pairs to set ("status", "assignee", "team", "priority")
-- Returns {code, previous status, current status, previous assignee, assignee, changed fields csv}
--   code 1 done, -1 no such conversation, -2 current status not allowed
local cur = redis.call('HMGET', KEYS[1], 'status', 'assignee')
if not cur[1] then return {-1, '', '', '', '', ''} end
local prevStatus, prevWho = cur[1], cur[2] or ''
if ARGV[4] ~= '' and not string.find(',' .. ARGV[4] .. ',', ',' .. prevStatus .. ',', 1, true) then
  return {-2, prevStatus, prevStatus, prevWho, prevWho, ''}
end
local changed = {}
for i = 5, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', KEYS[1], field) or ''
  if old ~= value then
    redis.call('HSET', KEYS[1], field, value)
    redis.call('XADD', KEYS[2], '*', 'at', ARGV[2], 'actor', ARGV[1], 'field', field, 'from', old, 'to', value)
    table.insert(changed, field)
    if field == 'status' and (value == 'resolved' or value == 'closed') then
      redis.call('HSETNX', KEYS[1], value .. '_at', ARGV[2])
    end
    if field == 'assignee' then
      redis.call('XADD', KEYS[3], '*', 'id', ARGV[3] .. '-' .. i, 'dir', 'system', 'kind', 'event', 'text', '',
        'at', ARGV[2], 'author', ARGV[1], 'f', '{"event":"assigned","from":"' .. old .. '","to":"' .. value .. '"}')
    end
  end
end
local now = redis.call('HMGET', KEYS[1], 'status', 'assignee')
return {1, prevStatus, now[1], prevWho, now[2] or '', table.concat(changed, ',')}
