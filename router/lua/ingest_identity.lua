-- Ingest, step 1 of 2, on one identity's slot {i:H}: drop a duplicate,
-- resolve the identity to a customer, find or open the conversation.
-- KEYS[1] identity -> customer      KEYS[2] identity+account -> open conversation
-- KEYS[3] dedup record of this message
-- ARGV[1] new customer id   ARGV[2] new conversation id   ARGV[3] new message id
-- ARGV[4] dedup TTL (s)     ARGV[5] "1" to deduplicate    ARGV[6] a closed conversation id to replace, or ""
-- ARGV[7] the conversation the channel matched the message to, or "" (it
--         is used as it is; the open key is neither read nor written)
-- Returns {duplicate 0|1, "customer|conversation|message|newCustomer newConversation"}
if ARGV[5] == '1' then
  local seen = redis.call('GET', KEYS[3])
  -- A record pointing at the closed conversation being replaced is stale.
  if seen and not (ARGV[6] ~= '' and string.find(seen, '|' .. ARGV[6] .. '|', 1, true)) then
    return {1, seen}
  end
end
local cust = redis.call('GET', KEYS[1])
local newCust = '0'
if not cust then
  cust = ARGV[1]
  redis.call('SET', KEYS[1], cust)
  newCust = '1'
end
local conv, newConv = false, '0'
local join = ARGV[7] or ''
if join ~= '' then
  conv = join
else
  conv = redis.call('GET', KEYS[2])
  if conv and ARGV[6] ~= '' and conv == ARGV[6] then conv = false end
  if not conv then
    conv = ARGV[2]
    redis.call('SET', KEYS[2], conv)
    newConv = '1'
  end
end
local rec = cust .. '|' .. conv .. '|' .. ARGV[3] .. '|' .. newCust .. newConv
if ARGV[5] == '1' then redis.call('SET', KEYS[3], rec, 'EX', ARGV[4]) end
return {0, rec}
