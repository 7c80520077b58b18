-- Free an agent's capacity held by a conversation, on {d}.
-- KEYS[1] owner  KEYS[2] load  KEYS[3] queue metadata  KEYS[4] overflow times
-- ARGV[1] conversation  ARGV[2] queue key prefix
-- Returns the agent released, or "".
local who = redis.call('HGET', KEYS[1], ARGV[1])
local meta = redis.call('HGET', KEYS[3], ARGV[1])
if meta then
  redis.call('ZREM', ARGV[2] .. string.match(meta, '^([^|]*)'), ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
end
if not who then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
if tonumber(redis.call('HGET', KEYS[2], who) or '0') > 0 then redis.call('HINCRBY', KEYS[2], who, -1) end
return who
