-- Copy a customer's new name onto one of their conversations, if it exists
-- (a conversation listed before its hash is written is left alone).
-- KEYS[1] conversation hash   ARGV[1] name
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'name', ARGV[1])
  return 1
end
return 0
