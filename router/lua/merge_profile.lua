-- Keep what a folded customer's profile knew, on the winner's slot {u:ID}:
-- the loser's name when its source ranks higher (agent > channel > none),
-- and fields the winner lacks. Safe to run again.
-- KEYS[1] winner's hash
-- ARGV[1] loser's name   ARGV[2] loser's name_source
-- ARGV[3..] pairs of field, loser's value, set when the winner has none
local rank = {agent = 2, channel = 1}
local src = redis.call('HGET', KEYS[1], 'name_source') or ''
if ARGV[1] ~= '' and (rank[ARGV[2]] or 0) > (rank[src] or 0) then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'name_source', ARGV[2])
end
for i = 3, #ARGV - 1, 2 do
  if ARGV[i + 1] ~= '' then redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
