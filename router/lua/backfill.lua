-- Give an agent with free capacity the best waiting conversation they can
-- take (highest priority, then oldest, whose skills they have), on {d}.
-- KEYS[1] owner  KEYS[2] load  KEYS[3] capacity  KEYS[4] presence  KEYS[5] heartbeats
-- KEYS[6] queue metadata  KEYS[7] overflow times  KEYS[8] dispatch stream  KEYS[9..] team queues
-- ARGV[1] agent  ARGV[2] now (ms)  ARGV[3] grace (ms)  ARGV[4] agent skills ",a,b,"
-- Returns the conversation assigned, or "".
local agent, now = ARGV[1], tonumber(ARGV[2])
if redis.call('HGET', KEYS[4], agent) ~= 'online' then return '' end
if now - tonumber(redis.call('HGET', KEYS[5], agent) or '0') > tonumber(ARGV[3]) then return '' end
if tonumber(redis.call('HGET', KEYS[2], agent) or '0') >= tonumber(redis.call('HGET', KEYS[3], agent) or '0') then return '' end
local bestConv, bestScore, bestQueue = nil, nil, nil
for q = 9, #KEYS do
  local items = redis.call('ZRANGE', KEYS[q], 0, 49, 'WITHSCORES')
  for i = 1, #items, 2 do
    local conv, score = items[i], tonumber(items[i + 1])
    if bestScore and score >= bestScore then break end
    local meta = redis.call('HGET', KEYS[6], conv) or ''
    local skills = string.match(meta, '^[^|]*|[^|]*|([^|]*)') or ''
    local ok = true
    for s in string.gmatch(skills, '[^,]+') do
      if not string.find(ARGV[4], ',' .. s .. ',', 1, true) then ok = false; break end
    end
    if ok then bestConv, bestScore, bestQueue = conv, score, KEYS[q]; break end
  end
end
if not bestConv then return '' end
redis.call('ZREM', bestQueue, bestConv)
redis.call('HDEL', KEYS[6], bestConv)
redis.call('ZREM', KEYS[7], bestConv)
redis.call('HSET', KEYS[1], bestConv, agent)
redis.call('HINCRBY', KEYS[2], agent, 1)
redis.call('XADD', KEYS[8], 'MAXLEN', '~', 100000, '*', 'conv', bestConv, 'kind', 'assigned', 'agent', agent)
return bestConv
