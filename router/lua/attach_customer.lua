-- Add a handle and/or a conversation to a customer, on its slot {u:ID},
-- unless the customer is being folded into another: then nothing is
-- written and the caller moves on to that one. Checking and adding in one
-- script means a merge that sets merging_into before it reads the lists
-- either sees what this adds or makes this refuse it.
-- KEYS[1] customer hash   KEYS[2] its handles   KEYS[3] its conversations
-- ARGV[1] handle "channel|account|type|value" or ""
-- ARGV[2] conversation id or ""   ARGV[3] the conversation's score (ms)
-- Returns {code, into}: 1 added something, 0 nothing new,
--   -1 being folded into `into`, -2 no such customer
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, ''} end
local into = redis.call('HGET', KEYS[1], 'merging_into')
if into then return {-1, into} end
local n = 0
if ARGV[1] ~= '' then n = n + redis.call('SADD', KEYS[2], ARGV[1]) end
if ARGV[2] ~= '' then n = n + redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[2]) end
if n > 0 then return {1, ''} end
return {0, ''}
