-- Give a conversation to another customer, on its slot {c:ID}. A missing
-- conversation is not created.
-- KEYS[1] conversation hash   ARGV[1] customer id
-- Returns 1 moved, 0 it was there already, -1 no such conversation
local cur = redis.call('HGET', KEYS[1], 'customer_id')
if not cur then return -1 end
if cur == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'customer_id', ARGV[1])
return 1
