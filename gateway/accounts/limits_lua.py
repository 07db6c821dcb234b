"""The Lua scripts behind per-key limits: each runs atomically inside Redis, so
concurrent admissions from any number of gateway replicas never over-admit.

Key layout and value shapes: `schema.py` (limits section). A limit of 0 means none.
Lua numbers reach Redis truncated to integers, so every reply is whole milliseconds
or whole tokens.
"""

from __future__ import annotations

# Shared by the scripts: the clock (Redis's own unless ARGV[1] injects one, so that
# replicas with skewed clocks agree) and the refill of a token bucket.
_PRELUDE = """
local MINUTE, DAY = 60000, 86400000
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Level after refill (full when absent) and the time it is valid at; a clock that
-- went back refills nothing rather than double-counting later.
local function bucket(key, cap)
  local v = redis.call('HMGET', key, 'level', 'at')
  local level, at = tonumber(v[1]), tonumber(v[2])
  if level == nil or at == nil then return cap, now end
  if now > at then
    level = math.min(cap, level + (now - at) * cap / MINUTE)
    at = now
  end
  return level, at
end

-- Milliseconds until a bucket of capacity cap refills from level to need.
local function ms_until(need, level, cap)
  if level >= need then return 0 end
  return math.ceil((need - level) * MINUTE / cap)
end

local function store(key, level, at, cap)
  redis.call('HSET', key, 'level', tostring(level), 'at', at)
  redis.call('PEXPIRE', key, ms_until(cap, level, cap) + 1000)
end

local function daily_used(key, day)
  local v = redis.call('HMGET', key, 'day', 'used')
  if tonumber(v[1]) == day then return tonumber(v[2]) or 0 end
  return 0
end
"""

# KEYS: rpm, tpm, day, leases.
# ARGV: now ms or '', rpm, tpm, daily tokens, concurrency, lease id, lease ttl ms.
# Refuses while a request bucket holds under one request, the token bucket under one
# token (it may be in debt: tokens are charged after the answer), the day's budget is
# spent or every slot is held. Consumes nothing unless every limit admits.
# Reply: allowed, reason (1 requests, 2 tokens, 3 daily, 4 concurrency; the one with
# the longest wait), retry ms, then remaining and ms-to-full of requests, tokens and
# the day's budget, then slots held.
ADMIT = (
    _PRELUDE
    + """
local rpm, tpm, daily, slots = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5])
local allowed, reason, retry = 1, 0, 0
local function refuse(why, ms)
  allowed = 0
  if reason == 0 or ms > retry then reason, retry = why, ms end
end

local r_level, r_at = 0, now
if rpm > 0 then
  r_level, r_at = bucket(KEYS[1], rpm)
  if r_level < 1 then refuse(1, ms_until(1, r_level, rpm)) end
end
local t_level = 0
if tpm > 0 then
  t_level = bucket(KEYS[2], tpm)
  if t_level < 1 then refuse(2, ms_until(1, t_level, tpm)) end
end
local used, to_midnight = 0, DAY - now % DAY
if daily > 0 then
  used = daily_used(KEYS[3], math.floor(now / DAY))
  if used >= daily then refuse(3, to_midnight) end
end
local held = 0
if slots > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  held = redis.call('ZCARD', KEYS[4])
  -- A slot frees when a request ends, which no clock predicts: ask again in a second.
  if held >= slots then refuse(4, 1000) end
end

if allowed == 1 then
  if rpm > 0 then
    r_level = r_level - 1
    store(KEYS[1], r_level, r_at, rpm)
  end
  if slots > 0 then
    local ttl = tonumber(ARGV[7])
    redis.call('ZADD', KEYS[4], now + ttl, ARGV[6])
    redis.call('PEXPIRE', KEYS[4], ttl + 1000)
    held = held + 1
  end
end
return {allowed, reason, retry,
  math.floor(r_level), ms_until(rpm, r_level, rpm),
  math.floor(t_level), ms_until(tpm, t_level, tpm),
  daily - used, to_midnight,
  held}
"""
)

# KEYS: tpm, day. ARGV: now ms or '', tpm, daily tokens, tokens generated.
# Charges after the answer, into debt if need be (the token bucket goes negative and
# admission waits until it refills). Reply: remaining and ms-to-full of the token
# bucket, then of the day's budget.
CHARGE = (
    _PRELUDE
    + """
local tpm, daily, tokens = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t_level = 0
if tpm > 0 then
  local level, at = bucket(KEYS[1], tpm)
  t_level = level - tokens
  store(KEYS[1], t_level, at, tpm)
end
local used, to_midnight = 0, DAY - now % DAY
if daily > 0 then
  local day = math.floor(now / DAY)
  used = daily_used(KEYS[2], day) + tokens
  redis.call('HSET', KEYS[2], 'day', day, 'used', used)
  redis.call('PEXPIRE', KEYS[2], to_midnight + MINUTE)
end
return {math.floor(t_level), ms_until(tpm, t_level, tpm), daily - used, to_midnight}
"""
)

# KEYS: leases. ARGV: now ms or '', lease ttl ms, lease ids...
# Extends the leases still held; one that already expired (its holder stalled past the
# ttl and another admission took the slot) is not brought back.
REFRESH = (
    _PRELUDE
    + """
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ttl + 1000) end
return 0
"""
)
