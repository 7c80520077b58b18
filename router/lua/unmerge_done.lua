-- Close an unmerge on the winner's slot {u:ID}: audit it, mark the record
-- unmerged and drop it from the winner's unmerge journal, once. Safe to
-- run again.
-- KEYS[1] the merge record   KEYS[2] winner's unmerge journal   KEYS[3] winner's audit stream
-- ARGV[1] merge id   ARGV[2] now (ms)   ARGV[3..] more audit fields, as pairs
-- Returns 1 when this call recorded the unmerge, 0 when it was recorded before
if not redis.call('HGET', KEYS[2], ARGV[1]) then return 0 end
local entry = {'action', 'unmerge', 'merge', ARGV[1], 'when', ARGV[2]}
for i = 3, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], '*', unpack(entry))
redis.call('HSET', KEYS[1], 'state', 'unmerged', 'undone_at', ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
