-- Read a ticket's events for the KPIs, on the conversation's slot {c:ID}:
-- its fields, its history and its transcript reduced to what the KPIs
-- read (no message text).
-- KEYS[1] conversation hash  KEYS[2] history stream  KEYS[3] transcript
-- ARGV[1] most entries per stream (at least 2)
-- Returns {fields, history, transcript}
--   fields: HMGET of number channel created_at team assignee priority
--   history: {{at, field, from, to, actor}, ...}
--   transcript: {{at, dir, author, kind, passive}, ...}
local f = redis.call('HMGET', KEYS[1], 'number', 'channel', 'created_at', 'team', 'assignee', 'priority')
for i = 1, 6 do f[i] = f[i] or '' end
local max = tonumber(ARGV[1])
local function add(out, row, pick)
  local m = {}
  for i = 1, #row[2], 2 do m[row[2][i]] = row[2][i + 1] end
  local e = {}
  for _, k in ipairs(pick) do table.insert(e, m[k] or '') end
  table.insert(out, e)
end
-- A stream longer than max is read as its oldest and newest halves, in
-- order: the ticket's opening and its latest changes.
local function read(key, pick)
  local out = {}
  if redis.call('XLEN', key) <= max then
    for _, row in ipairs(redis.call('XRANGE', key, '-', '+')) do add(out, row, pick) end
    return out
  end
  local head = math.floor(max / 2)
  for _, row in ipairs(redis.call('XRANGE', key, '-', '+', 'COUNT', head)) do add(out, row, pick) end
  local tail = redis.call('XREVRANGE', key, '+', '-', 'COUNT', max - head)
  for i = #tail, 1, -1 do add(out, tail[i], pick) end
  return out
end
return {f, read(KEYS[2], {'at', 'field', 'from', 'to', 'actor'}), read(KEYS[3], {'at', 'dir', 'author', 'kind', 'p'})}
