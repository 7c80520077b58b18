-- Move outbound sends whose retry time has come back onto the outbox
-- stream, on {o}.
-- KEYS[1] retry schedule  KEYS[2] outbox stream  ARGV[1] now (ms)
-- Returns how many moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'm', m)
  redis.call('ZREM', KEYS[1], m)
end
return #due
