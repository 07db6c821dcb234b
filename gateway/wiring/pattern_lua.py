"""The Lua script behind a pattern-cache store: the sweep and the write in one step
inside Redis, so replicas storing into one scope at once never leave it over capacity
or with half-deleted entries.

Key layout and value shapes: routing_schema.py.
"""

from __future__ import annotations

# KEYS: meta, sketch, vector hashes of the scope, then the incoming entry's string.
# ARGV: now (s), min_retention, capacity, entry-key prefix, incoming key, entry JSON,
# meta JSON, sketch, vector ('' for none).
# The entry strings of evicted keys are built from ARGV[4] rather than declared in
# KEYS: their names are known only once the meta hash is read. Fine on one Redis; on
# Redis Cluster every key of a scope would need one hash tag.
# Evicts the entries whose retention exp(-(now - last) / S) is below min_retention
# (a meta value that does not decode counts as decayed, rather than failing every
# store into the scope), then the least retained until the scope, with the incoming
# key, fits capacity; the incoming key is never evicted. Then writes the entry.
# Reply: evicted key, reason ('decay' or 'capacity'), key, reason, ...
SWEEP_AND_STORE = """
local meta, sketches, vectors = KEYS[1], KEYS[2], KEYS[3]
local now, floor, capacity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local prefix, incoming = ARGV[4], ARGV[5]

local doomed, kept = {}, {}
local all = redis.call('HGETALL', meta)
for i = 1, #all, 2 do
  local key = all[i]
  if key ~= incoming then
    local ok, v = pcall(cjson.decode, all[i + 1])
    local r, strength, last = 0, nil, nil
    if ok and type(v) == 'table' then strength, last = tonumber(v[1]), tonumber(v[2]) end
    if strength and last and strength > 0 then
      r = math.exp(-math.max(0, now - last) / strength)
    end
    if r < floor then
      doomed[#doomed + 1] = {key, 'decay'}
    else
      kept[#kept + 1] = {r, key}
    end
  end
end
-- Least retained first; ties by key, so every replica would pick the same.
table.sort(kept, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
for i = 1, #kept + 1 - capacity do
  doomed[#doomed + 1] = {kept[i][2], 'capacity'}
end

local reply = {}
for _, d in ipairs(doomed) do
  redis.call('DEL', prefix .. d[1])
  redis.call('HDEL', meta, d[1])
  redis.call('HDEL', sketches, d[1])
  redis.call('HDEL', vectors, d[1])
  reply[#reply + 1] = d[1]
  reply[#reply + 1] = d[2]
end

redis.call('SET', KEYS[4], ARGV[6])
redis.call('HSET', meta, incoming, ARGV[7])
redis.call('HSET', sketches, incoming, ARGV[8])
if ARGV[9] ~= '' then redis.call('HSET', vectors, incoming, ARGV[9]) end
return reply
"""
