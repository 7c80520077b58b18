-- Take identities an agent unlinked off a customer, on its slot {u:ID}:
-- remove the handles and audit it in one step.
-- KEYS[1] its handles   KEYS[2] its audit stream
-- ARGV[1] "1" when the identity's pointer to the customer was deleted
-- ARGV[2] n, the number of handles   ARGV[3 .. 2+n] the handles
-- ARGV[3+n ..] audit fields, as field/value pairs
-- Returns how many handles were removed; audits when any was, or when the
-- pointer was deleted.
local n = tonumber(ARGV[2])
local removed = 0
for i = 3, 2 + n do removed = removed + redis.call('SREM', KEYS[1], ARGV[i]) end
if removed == 0 and ARGV[1] ~= '1' then return 0 end
local entry = {}
for i = 3 + n, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(entry))
return removed
