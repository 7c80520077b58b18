-- Append an audit entry for one step of a merge or an unmerge, once, on
-- the customer's slot {u:ID}: an entry with the same merge id and action
-- among the stream's last 50 means it was written before.
-- KEYS[1] audit stream
-- ARGV[1] merge id   ARGV[2] action   ARGV[3..] more fields, as pairs
-- Returns 1 when written now, 0 when it was there.
local recent = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 50)
for _, e in ipairs(recent) do
  local f, id, action = e[2], nil, nil
  for i = 1, #f - 1, 2 do
    if f[i] == 'merge' then id = f[i + 1] elseif f[i] == 'action' then action = f[i + 1] end
  end
  if id == ARGV[1] and action == ARGV[2] then return 0 end
end
local entry = {'action', ARGV[2], 'merge', ARGV[1]}
for i = 3, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[1], '*', unpack(entry))
return 1
