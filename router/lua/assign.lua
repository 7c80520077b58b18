-- Hand a conversation to a named agent (a transfer or a take), on {d},
-- whatever their load: a person decided. Frees the previous agent.
-- KEYS[1] owner  KEYS[2] load  KEYS[3] queue metadata  KEYS[4] overflow times  KEYS[5] dispatch stream
-- ARGV[1] conversation  ARGV[2] agent  ARGV[3] queue key prefix
-- ARGV[4] who decided (an agent id), recorded on the dispatch entry so that
--         whichever writes the conversation first (the caller, or dispatch
--         mirroring the slot) names them in the ticket's history
-- Returns the previous agent, or "".
local conv, agent = ARGV[1], ARGV[2]
local old = redis.call('HGET', KEYS[1], conv) or ''
if old == agent then return old end
if old ~= '' and tonumber(redis.call('HGET', KEYS[2], old) or '0') > 0 then redis.call('HINCRBY', KEYS[2], old, -1) end
local meta = redis.call('HGET', KEYS[3], conv)
if meta then
  redis.call('ZREM', ARGV[3] .. string.match(meta, '^([^|]*)'), conv)
  redis.call('HDEL', KEYS[3], conv)
  redis.call('ZREM', KEYS[4], conv)
end
redis.call('HSET', KEYS[1], conv, agent)
redis.call('HINCRBY', KEYS[2], agent, 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 100000, '*', 'conv', conv, 'kind', 'assigned', 'agent', agent, 'actor', ARGV[4] or '')
return old
