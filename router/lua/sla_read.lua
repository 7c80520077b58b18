-- Read what an SLA sync needs, on the conversation's slot {c:ID}: the
-- ticket's fields and the history and transcript entries after the sync's
-- cursors, each reduced to the fields the fold reads (no message text).
-- KEYS[1] conversation hash  KEYS[2] history stream  KEYS[3] transcript
-- ARGV[1] most entries to return per stream
-- Returns {fields, history, transcript, history tail, transcript tail}
--   fields: HMGET of number status priority team channel customer_id
--           created_at sla sla_h sla_m sla_n assignee bot sla_policy sla_due sla_flag
--   history: {{id, at, field, from, to, actor}, ...} after sla_n (when set) or sla_h
--   transcript: {{id, at, dir, author, kind, passive}, ...} after sla_m
local f = redis.call('HMGET', KEYS[1], 'number', 'status', 'priority', 'team', 'channel', 'customer_id',
  'created_at', 'sla', 'sla_h', 'sla_m', 'sla_n', 'assignee', 'bot', 'sla_policy', 'sla_due', 'sla_flag')
for i = 1, 16 do f[i] = f[i] or '' end
local max = tonumber(ARGV[1])
local function after(key, cursor, pick)
  local start = '-'
  if cursor ~= '' then start = cursor end
  local out = {}
  for _, row in ipairs(redis.call('XRANGE', key, start, '+', 'COUNT', max + 1)) do
    if row[1] ~= cursor and #out < max then
      local m = {}
      for i = 1, #row[2], 2 do m[row[2][i]] = row[2][i + 1] end
      local e = {row[1]}
      for _, k in ipairs(pick) do table.insert(e, m[k] or '') end
      table.insert(out, e)
    end
  end
  return out
end
local function tail(key)
  local t = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #t == 0 then return '' end
  return t[1][1]
end
if f[1] == '' then return {f, {}, {}, '', ''} end
local hc = f[11]
if hc == '' then hc = f[9] end
local h = after(KEYS[2], hc, {'at', 'field', 'from', 'to', 'actor'})
local m = after(KEYS[3], f[10], {'at', 'dir', 'author', 'kind', 'p'})
return {f, h, m, tail(KEYS[2]), tail(KEYS[3])}
