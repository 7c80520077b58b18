-- Close a merge on the winner's slot {u:ID}: write its audit entry, mark
-- its record merged and drop it from the winner's journal, once. Safe to
-- run again.
-- KEYS[1] winner's merge journal (hash loser -> entry)
-- KEYS[2] winner's audit stream   KEYS[3] the merge record (hash)
-- ARGV[1] loser id   ARGV[2] winner id   ARGV[3] now (ms)   ARGV[4] merge id
-- ARGV[5..] more audit fields, as field/value pairs (who, why, reason, …)
-- Returns 1 when this call recorded the merge, 0 when it was recorded before
if not redis.call('HGET', KEYS[1], ARGV[1]) then return 0 end
local entry = {'action', 'merge', 'when', ARGV[3], 'merge', ARGV[4], 'from', ARGV[1], 'into', ARGV[2]}
for i = 5, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(entry))
redis.call('HSET', KEYS[3], 'state', 'merged', 'merged_at', ARGV[3])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
