-- Keep what a folded customer's profile knew, on the winner's slot {u:ID}:
-- the loser's name when its source ranks higher (agent > channel > none),
-- and fields the winner lacks. Every change is noted in the merge record
-- (was:FIELD, the winner's value before: "=value", or "" for none; and
-- set:FIELD, the value set), so an unmerge can give the winner back what
-- it had. Safe to run again: a note is written once.
-- KEYS[1] winner's hash   KEYS[2] the merge record (hash)
-- ARGV[1] loser's name   ARGV[2] loser's name_source
-- ARGV[3..] pairs of field, loser's value, set when the winner has none
local rank = {agent = 2, channel = 1}
local function change(field, value)
  local old = redis.call('HGET', KEYS[1], field)
  local was = ''
  if old then was = '=' .. old end
  redis.call('HSETNX', KEYS[2], 'was:' .. field, was)
  redis.call('HSET', KEYS[2], 'set:' .. field, value)
  redis.call('HSET', KEYS[1], field, value)
end
local src = redis.call('HGET', KEYS[1], 'name_source') or ''
if ARGV[1] ~= '' and (rank[ARGV[2]] or 0) > (rank[src] or 0) then
  change('name', ARGV[1])
  change('name_source', ARGV[2])
end
for i = 3, #ARGV - 1, 2 do
  if ARGV[i + 1] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then change(ARGV[i], ARGV[i + 1]) end
end
return 1
