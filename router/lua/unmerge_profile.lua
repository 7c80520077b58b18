-- Give the winner of a merge back the profile fields the merge changed,
-- on its slot {u:ID}, where they still hold what the merge set (an edit
-- made since stays). name and name_source go back together. Safe to run
-- again.
-- KEYS[1] winner's hash   KEYS[2] the merge record (was:FIELD, set:FIELD)
-- Returns the fields given back.
local rec = redis.call('HGETALL', KEYS[2])
local set, was, order = {}, {}, {}
for i = 1, #rec - 1, 2 do
  local f, v = rec[i], rec[i + 1]
  if string.sub(f, 1, 4) == 'set:' then
    set[string.sub(f, 5)] = v
    order[#order + 1] = string.sub(f, 5)
  elseif string.sub(f, 1, 4) == 'was:' then
    was[string.sub(f, 5)] = v
  end
end
local function restore(f)
  local w = was[f]
  if w == nil then return end
  if w == '' then redis.call('HDEL', KEYS[1], f) else redis.call('HSET', KEYS[1], f, string.sub(w, 2)) end
end
local back = {}
for _, f in ipairs(order) do
  if f == 'name' then
    local v = redis.call('HMGET', KEYS[1], 'name', 'name_source')
    if v[1] == set['name'] and (v[2] or '') == (set['name_source'] or '') then
      restore('name')
      restore('name_source')
      back[#back + 1] = 'name'
    end
  elseif f ~= 'name_source' and redis.call('HGET', KEYS[1], f) == set[f] then
    restore(f)
    back[#back + 1] = f
  end
end
return back
