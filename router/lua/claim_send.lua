-- Take one outbound message for sending, on its conversation's slot
-- {c:ID}, so two consumers never send it at once and a sent one is never
-- sent again.
-- KEYS[1] delivery hash  ARGV[1] message id  ARGV[2] now (ms)  ARGV[3] lease (ms)
-- Returns 1 when the caller may send, 0 otherwise.
local st = redis.call('HGET', KEYS[1], ARGV[1])
if st ~= 'queued' and st ~= 'sending' then return 0 end
if st == 'sending' then
  local lease = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':lease') or '0')
  if lease > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], 'sending', ARGV[1] .. ':lease', tonumber(ARGV[2]) + tonumber(ARGV[3]))
return 1
