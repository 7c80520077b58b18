-- Assign a conversation to an agent, or queue it, on the dispatch slot {d}.
-- Prefers the sticky agent when online with free capacity, else the least
-- loaded online candidate with free capacity. Idempotent: an assigned
-- conversation stays with its agent.
-- KEYS[1] owner  KEYS[2] load  KEYS[3] capacity  KEYS[4] presence  KEYS[5] heartbeats
-- KEYS[6] queue of the team  KEYS[7] queue metadata  KEYS[8] overflow times
-- ARGV[1] conversation  ARGV[2] now (ms)  ARGV[3] grace (ms)  ARGV[4] sticky agent or ""
-- ARGV[5] "team|rank|skills|enqueued(ms)|overflow team"  ARGV[6] overflow at (ms) or ""
-- ARGV[7] queue key prefix  ARGV[8..] candidate agents
-- Returns {1, agent} when assigned, {0, ""} when queued.
local conv, now, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = redis.call('HGET', KEYS[1], conv)
if cur then return {1, cur} end
local best, bestLoad = nil, nil
for i = 8, #ARGV do
  local a = ARGV[i]
  if redis.call('HGET', KEYS[4], a) == 'online' then
    local seen = tonumber(redis.call('HGET', KEYS[5], a) or '0')
    if now - seen <= grace then
      local load = tonumber(redis.call('HGET', KEYS[2], a) or '0')
      local cap = tonumber(redis.call('HGET', KEYS[3], a) or '0')
      if load < cap then
        if a == ARGV[4] then best = a; break end
        if not best or load < bestLoad then best, bestLoad = a, load end
      end
    end
  end
end
-- Leave any queue the conversation waited in before.
local old = redis.call('HGET', KEYS[7], conv)
local enq = string.match(ARGV[5], '^[^|]*|[^|]*|[^|]*|([^|]*)')
if old then
  local oldTeam, oldEnq = string.match(old, '^([^|]*)|[^|]*|[^|]*|([^|]*)')
  redis.call('ZREM', ARGV[7] .. oldTeam, conv)
  enq = oldEnq
end
if best then
  redis.call('HSET', KEYS[1], conv, best)
  redis.call('HINCRBY', KEYS[2], best, 1)
  redis.call('HDEL', KEYS[7], conv)
  redis.call('ZREM', KEYS[8], conv)
  return {1, best}
end
local team, rank, skills, _, ovTeam = string.match(ARGV[5], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
redis.call('HSET', KEYS[7], conv, team .. '|' .. rank .. '|' .. skills .. '|' .. enq .. '|' .. ovTeam)
redis.call('ZADD', KEYS[6], rank .. string.format('%013d', tonumber(enq)), conv)
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[8], 'NX', ARGV[6], conv) else redis.call('ZREM', KEYS[8], conv) end
return {0, ''}
