-- Record one event of a telephone call, on the call's slot {call:ID}.
-- newCall, answer and hangup are recorded once per call (a repeat changes
-- nothing); ring events only add the users and agents they name. Events
-- may come out of order: a hangup before its newCall, an answer after the
-- hangup (ignored, as Zammad does).
-- KEYS[1] call hash   KEYS[2] users the PBX named (set)   KEYS[3] agents told (set)
-- ARGV[1] event (newCall, ring, answer, hangup)   ARGV[2] event time (ms)
-- ARGV[3] source   ARGV[4] the PBX's call id   ARGV[5] direction (in, out) or ""
-- ARGV[6] from   ARGV[7] to   ARGV[8] from, E.164   ARGV[9] to, E.164
-- ARGV[10] team   ARGV[11] queue   ARGV[12] customer id or ""
-- ARGV[13] who answered, as the PBX named them   ARGV[14] the answering agent's id or ""
-- ARGV[15] hangup cause   ARGV[16] TTL of the keys (s)   ARGV[17] number of users N
-- ARGV[18 .. 17+N] users   ARGV[18+N ..] ids of agents to tell
-- Returns {code, state before, agents added, record (HGETALL), users, agents}
--   code 1 recorded, 0 already recorded (a repeat), 2 ignored (answer after hangup)
local call = KEYS[1]
local ev, at = ARGV[1], tonumber(ARGV[2])
local function result(code, prev, added)
  return {code, prev, added, redis.call('HGETALL', call), redis.call('SMEMBERS', KEYS[2]),
    redis.call('SMEMBERS', KEYS[3])}
end
local prev = redis.call('HGET', call, 'state') or ''
if ev ~= 'ring' and redis.call('HEXISTS', call, 'ev:' .. ev) == 1 then
  return result(0, prev, {})
end
if ev == 'answer' and (prev == 'ended' or prev == 'missed') then
  return result(2, prev, {})
end

redis.call('HSETNX', call, 'id', string.match(call, '{call:(.-)}'))
redis.call('HSETNX', call, 'source', ARGV[3])
redis.call('HSETNX', call, 'call_id', ARGV[4])
-- The first value the PBX gave for a field stays.
local fill = {'direction', ARGV[5], 'from', ARGV[6], 'to', ARGV[7], 'from_e164', ARGV[8], 'to_e164', ARGV[9],
  'team', ARGV[10], 'queue', ARGV[11], 'customer', ARGV[12]}
for i = 1, #fill, 2 do
  if fill[i + 1] ~= '' then redis.call('HSETNX', call, fill[i], fill[i + 1]) end
end
-- The call started at its earliest event.
local started = tonumber(redis.call('HGET', call, 'started_at') or '')
if not started or at < started then redis.call('HSET', call, 'started_at', ARGV[2]) end

local n = tonumber(ARGV[17])
for i = 18, 17 + n do redis.call('SADD', KEYS[2], ARGV[i]) end
local added = {}
for i = 18 + n, #ARGV do
  if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then table.insert(added, ARGV[i]) end
end

local dir = redis.call('HGET', call, 'direction') or ''
local state = prev
if ev == 'newCall' or ev == 'ring' then
  if state == '' then state = 'ringing' end
  -- A hangup that came first could not know it was an outbound call.
  if state == 'missed' and dir == 'out' then state = 'ended' end
else
  if ARGV[13] ~= '' then redis.call('HSETNX', call, 'answered_by', ARGV[13]) end
  if ARGV[14] ~= '' then redis.call('HSETNX', call, 'answered_agent', ARGV[14]) end
  if ev == 'answer' then
    state = 'answered'
    redis.call('HSETNX', call, 'answered_at', ARGV[2])
  elseif ev == 'hangup' then
    redis.call('HSET', call, 'ended_at', ARGV[2])
    if ARGV[15] ~= '' then redis.call('HSET', call, 'cause', ARGV[15]) end
    local answered = tonumber(redis.call('HGET', call, 'answered_at') or '')
    if answered then
      state = 'ended'
      redis.call('HSET', call, 'duration', math.max(0, math.floor((at - answered) / 1000)))
    elseif ARGV[15] == 'forwarded' or dir == 'out' then
      state = 'ended'
    else
      -- Never answered: a missed call (an unknown direction counts as
      -- inbound until the newCall says otherwise).
      state = 'missed'
    end
  end
end
redis.call('HSET', call, 'state', state, 'ev:' .. ev, ARGV[2], 'updated_at', ARGV[2])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[16]) end
return result(1, prev, added)
