-- Give a new conversation its ticket number, routing and SLA targets, on
-- its slot {c:ID}. Idempotent: a conversation keeps its first number.
-- KEYS[1] conversation hash  KEYS[2] history stream
-- ARGV[1] number  ARGV[2] priority  ARGV[3] team  ARGV[4] skills csv
-- ARGV[5] first-response due (ms) or ""  ARGV[6] resolve due (ms) or ""  ARGV[7] now (ms)
-- Returns the conversation's ticket number.
local have = redis.call('HGET', KEYS[1], 'number')
if have then return have end
redis.call('HSET', KEYS[1], 'number', ARGV[1], 'priority', ARGV[2], 'team', ARGV[3], 'skills', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'frt_due', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'res_due', ARGV[6]) end
redis.call('XADD', KEYS[2], '*', 'at', ARGV[7], 'actor', 'system', 'field', 'ticket', 'to', ARGV[1])
return ARGV[1]
