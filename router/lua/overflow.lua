-- Move conversations that waited too long to their overflow team, on {d}.
-- KEYS[1] overflow times  KEYS[2] queue metadata  KEYS[3] dispatch stream
-- ARGV[1] now (ms)  ARGV[2] queue key prefix
-- Returns how many moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, conv in ipairs(due) do
  redis.call('ZREM', KEYS[1], conv)
  local meta = redis.call('HGET', KEYS[2], conv)
  if meta then
    local team, _, _, enq, ov = string.match(meta, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if ov and ov ~= '' and ov ~= team then
      redis.call('ZREM', ARGV[2] .. team, conv)
      redis.call('HDEL', KEYS[2], conv)
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'conv', conv, 'kind', 'overflow', 'team', ov, 'enq', enq)
    end
  end
end
return #due
