-- Detach a closed conversation from its identity, on the identity's slot
-- {i:H}, so the next message opens a new one.
-- KEYS[1] identity+account -> open conversation   ARGV[1] the closed conversation id
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
