-- Read what an SLA sync needs, on the conversation's slot {c:ID}: the
-- ticket's fields and the history and transcript entries after the sync's
-- cursors, each reduced to the fields the fold reads (no message text).
-- KEYS[1] conversation hash  KEYS[2] history stream  KEYS[3] transcript
-- ARGV[1] most entries to return per stream
-- Returns {fields, history, transcript, history tail, transcript tail, notices}
--   fields: HMGET of number status priority team channel customer_id
--           created_at sla sla_h sla_m sla_n assignee bot sla_policy sla_due sla_flag
--   history: {{id, at, field, from, to, actor}, ...} after sla_h
--   transcript: {{id, at, dir, author, kind, passive}, ...} after sla_m
--   notices: the history's SLA outcomes after sla_n up to sla_h, which an
--   earlier sync stored and did not tell ({{id, at, field, from, to, actor}, ...})
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
if f[1] == '' then return {f, {}, {}, '', '', {}} end
local pick = {'at', 'field', 'from', 'to', 'actor'}
local h = after(KEYS[2], f[9], pick)
local m = after(KEYS[3], f[10], {'at', 'dir', 'author', 'kind', 'p'})
local notices = {}
if f[11] ~= '' and f[11] ~= f[9] and f[9] ~= '' then
  for _, row in ipairs(redis.call('XRANGE', KEYS[2], f[11], f[9], 'COUNT', max + 1)) do
    if row[1] ~= f[11] then
      local e = {row[1]}
      local kv = {}
      for i = 1, #row[2], 2 do kv[row[2][i]] = row[2][i + 1] end
      if kv['field'] == 'sla' and #notices < max then
        for _, k in ipairs(pick) do table.insert(e, kv[k] or '') end
        table.insert(notices, e)
      end
    end
  end
end
return {f, h, m, tail(KEYS[2]), tail(KEYS[3]), notices}
