-- Close a merge on the winner's slot {u:ID}: write its audit entry and
-- drop it from the winner's journal, once. Safe to run again.
-- KEYS[1] winner's merge journal (hash loser -> "started ms|why")
-- KEYS[2] winner's audit stream
-- ARGV[1] loser id   ARGV[2] winner id   ARGV[3] now (ms)   ARGV[4] who
-- Returns 1 when this call recorded the merge, 0 when it was recorded before
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local started, why = string.match(rec, '^(%d*)|(.*)$')
redis.call('XADD', KEYS[2], '*', 'action', 'merge', 'who', ARGV[4], 'why', why or rec,
  'when', ARGV[3], 'started', started or '', 'from', ARGV[1], 'into', ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
