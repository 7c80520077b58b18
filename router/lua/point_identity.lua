-- Point one identity at a customer, on the identity's slot {i:H}.
-- KEYS[1] identity -> customer
-- ARGV[1] the customer it may be taken from, or "" to set it only when it points nowhere
-- ARGV[2] the customer it should point at
-- Returns {the customer it points at afterwards, 1 when this call changed it}
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[2] then return {cur, 0} end
if not cur or (ARGV[1] ~= '' and cur == ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
  return {ARGV[2], 1}
end
return {cur, 0}
