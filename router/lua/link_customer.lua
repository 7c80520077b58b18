-- Give a customer one more identity an agent linked, on its slot {u:ID}:
-- add the handle and audit it in one step, unless the customer is being
-- folded into another (then nothing is written and the caller follows).
-- KEYS[1] customer hash   KEYS[2] its handles   KEYS[3] its audit stream
-- ARGV[1] handle "||type|value"   ARGV[2] "1" to audit even when the
-- handle was there (the identity's pointer was set just now)
-- ARGV[3..] audit fields, as field/value pairs
-- Returns {code, into}: 1 linked and audited, 0 nothing new,
--   -1 being folded into `into`, -2 no such customer
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, ''} end
local into = redis.call('HGET', KEYS[1], 'merging_into')
if into then return {-1, into} end
local n = redis.call('SADD', KEYS[2], ARGV[1])
if n == 0 and ARGV[2] ~= '1' then return {0, ''} end
local entry = {}
for i = 3, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], '*', unpack(entry))
return {1, ''}
