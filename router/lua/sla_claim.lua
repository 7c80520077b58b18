-- Hand the SLA wake-ups that are due to the sync workers, on the slot
-- {sla}: each due conversation leaves the timer set and becomes an entry
-- of the work stream (consumer group "sla"), so a replica that dies while
-- syncing leaves the entry for another to take over.
-- KEYS[1] timers (sorted set: conversation id by wake-up ms)  KEYS[2] work stream
-- ARGV[1] now (ms)  ARGV[2] most to claim
-- Returns how many were claimed.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, conv in ipairs(due) do
  redis.call('ZREM', KEYS[1], conv)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'conv', conv)
end
return #due
