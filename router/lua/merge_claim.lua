-- Write the journal entry of a merge on the winner's slot {u:ID}, unless
-- the entry found there is not the one expected (another attempt wrote
-- it first, or it changed): then that one stands.
-- KEYS[1] the winner's merge journal (hash loser -> entry)
-- ARGV[1] loser id   ARGV[2] the entry to write
-- ARGV[3] the entry expected there now ("" for none)
-- Returns the entry stored afterwards.
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur == ARGV[3] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return ARGV[2]
end
return cur
