-- Renew or release the merge lock, only for the caller that holds it.
-- KEYS[1] lock   ARGV[1] the caller's token   ARGV[2] "renew" or "release"
-- ARGV[3] lease (ms), for renew
-- Returns 1 when the caller held the lock, 0 otherwise
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'release' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
