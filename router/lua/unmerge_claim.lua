-- Decide an unmerge, on the winner's slot {u:ID}: the record turns
-- unmerging (once, with who and when), the winner's unmerge journal gets
-- the merge id (what a retry finds to finish), and the winner's :unmerged
-- set gets it too (ingest looks at that set, see merge_check.lua).
-- KEYS[1] the merge record   KEYS[2] winner's unmerge journal (merge id -> started ms)
-- KEYS[3] winner's :unmerged set
-- ARGV[1] merge id   ARGV[2] who   ARGV[3] now (ms)
-- Returns the record's state afterwards: "unmerging", or the state that
-- forbade it ("merging", "unmerged", "abandoned", "" for no record).
local st = redis.call('HGET', KEYS[1], 'state') or ''
if st == 'merged' then
  redis.call('HSET', KEYS[1], 'state', 'unmerging')
  redis.call('HSETNX', KEYS[1], 'undone_by', ARGV[2])
  redis.call('HSETNX', KEYS[1], 'undo_started', ARGV[3])
  st = 'unmerging'
end
if st ~= 'unmerging' then return st end
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
return st
