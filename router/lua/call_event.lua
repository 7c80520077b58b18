-- Record one event of a telephone call, on the call's slot {call:ID}.
-- newCall, answer and hangup are recorded once per call: the state, the
-- numbers and the times stay as the first of each set them. A repeat (a
-- transfer's second answer, a PBX sending newCall again with more users)
-- still adds the users and agents it names; ring events only add them.
-- Events may come out of order: a hangup before its newCall, an answer
-- after the hangup (ignored, as Zammad does). A call is answered when it
-- has answered_at: an answer sets it, and so does a hangup that names who
-- answered when the answer event was lost (the talk time is then unknown:
-- duration 0 and talk_unknown 1).
-- KEYS[1] call hash   KEYS[2] users the PBX named (set)   KEYS[3] agents told (set)
-- ARGV[1] event (newCall, ring, answer, hangup)   ARGV[2] event time (ms)
-- ARGV[3] source   ARGV[4] the PBX's call id   ARGV[5] direction (in, out) or ""
-- ARGV[6] from   ARGV[7] to   ARGV[8] from, E.164   ARGV[9] to, E.164
-- ARGV[10] team   ARGV[11] queue   ARGV[12] customer id or ""
-- ARGV[13] who answered, as the PBX named them   ARGV[14] the answering agent's id or ""
-- ARGV[15] hangup cause   ARGV[16] TTL of the keys (s)   ARGV[17] number of users N
-- ARGV[18] "1" when the agents are the team's, told because the PBX named
--   no agent: added only to a call that has no agents yet
-- ARGV[19 .. 18+N] users   ARGV[19+N ..] ids of agents to tell
-- Returns {code, state before, agents added, record (HGETALL), users, agents}
--   code 1 recorded, 0 already recorded (a repeat: only users and agents
--   added), 2 ignored (answer after hangup)
local call = KEYS[1]
local ev, at = ARGV[1], tonumber(ARGV[2])
local function result(code, prev, added)
  return {code, prev, added, redis.call('HGETALL', call), redis.call('SMEMBERS', KEYS[2]),
    redis.call('SMEMBERS', KEYS[3])}
end
-- addNamed adds the users and agents the event names and returns the
-- agents that are new to the call.
local function addNamed()
  local n = tonumber(ARGV[17])
  for i = 19, 18 + n do redis.call('SADD', KEYS[2], ARGV[i]) end
  local added = {}
  if ARGV[18] == '1' and redis.call('SCARD', KEYS[3]) > 0 then return added end
  for i = 19 + n, #ARGV do
    if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then table.insert(added, ARGV[i]) end
  end
  return added
end
local prev = redis.call('HGET', call, 'state') or ''
if ev ~= 'ring' and redis.call('HEXISTS', call, 'ev:' .. ev) == 1 then
  local added = addNamed()
  -- The sets live as long as the record.
  local ttl = redis.call('PTTL', call)
  if ttl > 0 then
    for i = 2, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
  return result(0, prev, added)
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

local added = addNamed()

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
    if not answered and (redis.call('HGET', call, 'answered_by') or '') ~= '' then
      -- Someone answered, but their answer event was lost: answered, for
      -- an unknown talk time.
      answered = at
      redis.call('HSET', call, 'answered_at', ARGV[2], 'talk_unknown', '1')
    end
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
