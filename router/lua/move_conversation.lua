-- Give a conversation to another customer, on its slot {c:ID}. A missing
-- conversation is not created.
-- KEYS[1] conversation hash   ARGV[1] customer id
-- ARGV[2] (optional) the customer it may be taken from; "" or absent for any
-- Returns 1 moved, 0 it was there already, -1 no such conversation,
--   -2 it belongs to a customer other than ARGV[2] (left alone)
local cur = redis.call('HGET', KEYS[1], 'customer_id')
if not cur then return -1 end
if cur == ARGV[1] then return 0 end
if ARGV[2] and ARGV[2] ~= '' and cur ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], 'customer_id', ARGV[1])
return 1
