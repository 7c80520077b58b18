-- Set a customer's name and avatar from a channel's profile, on its slot
-- {u:ID}. A name an agent set (name_source "agent") is kept. A name with no
-- source (written by ingest, or by an agent before name_source existed) is
-- replaced only while it is empty or one of the customer's default display
-- names. A customer being folded into another is not written.
-- KEYS[1] customer hash
-- ARGV[1] name or ""   ARGV[2] avatar URL or ""
-- ARGV[3..] the default display names of the customer's handles
-- Returns {code, value}: 1 and the changed fields ("name,avatar", maybe "");
--   -1 and the customer it is being folded into; -2 no such customer
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, ''} end
local into = redis.call('HGET', KEYS[1], 'merging_into')
if into then return {-1, into} end
local changed = {}
if ARGV[1] ~= '' then
  local v = redis.call('HMGET', KEYS[1], 'name', 'name_source')
  local cur, src = v[1] or '', v[2] or ''
  local replace = src == 'channel'
  if src == '' then
    replace = cur == ''
    for i = 3, #ARGV do
      if cur == ARGV[i] then replace = true end
    end
  end
  if replace and (cur ~= ARGV[1] or src ~= 'channel') then
    redis.call('HSET', KEYS[1], 'name', ARGV[1], 'name_source', 'channel')
    if cur ~= ARGV[1] then changed[#changed + 1] = 'name' end
  end
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'avatar') ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'avatar', ARGV[2])
  changed[#changed + 1] = 'avatar'
end
return {1, table.concat(changed, ',')}
