-- Ingest's look at a customer after writing a new conversation to it, on
-- the customer's slot {u:ID}: is the customer being folded into another
-- (merging_into), or did an unmerge take identities away from it (its
-- :unmerged set exists)? Either way ingest checks where the message's
-- identity points now and moves the conversation there (adoptInbound).
-- Sent as EVAL with its text, so it needs no script cache.
-- KEYS[1] customer hash   KEYS[2] the customer's :unmerged set
-- Returns merging_into, "unmerged", or "".
local into = redis.call('HGET', KEYS[1], 'merging_into')
if into then return into end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'unmerged' end
return ''
