-- flowgate's decision over one key's buckets, all or nothing, in one step (EVALSHA).
--
-- KEYS[i]    bucket i of one limiter key (all under one hash tag: fg:{g:<key>}:<bucket>)
-- ARGV[1]    now, in microseconds since the Unix epoch; "" for Redis' own clock (TIME)
-- ARGV[2]    the cost to spend; 0 only reads (a wait time, a key's state)
-- ARGV[2+2i-1], ARGV[2+2i]
--            bucket i's interval (microseconds per token) and capacity (tokens)
--
-- A bucket's value is "<tat> <interval>": its theoretical arrival time (when it is full again)
-- and the interval it was spent at. It expires at its tat, when it would be full anyway: a key
-- nobody uses leaves nothing behind. A bucket never stored is full (tat 0). A bucket stored
-- under other limits is carried over to these at its first use, whatever that use decides.
--
-- Replies {spent (1|0), now, tat_1, ..., tat_n}: the arrival times before this request, from
-- which the caller's core makes the decision (the same rule as in process). Every number
-- stays below 2^53, so Lua's doubles hold them exactly.

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local cost = tonumber(ARGV[2])

local reply = {0, now}
local spent = {}
local moved = {}
local fits = cost > 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[1 + 2 * i])
  local capacity = tonumber(ARGV[2 + 2 * i])
  local tat = 0
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local at, was = string.match(stored, '^(%d+) (%d+)$')
    tat = tonumber(at) or 0
    was = tonumber(was) or interval
    if was ~= interval and tat > now then
      -- The limits changed under a live key: it keeps the tokens it owes (rounded up), at
      -- most its new capacity, as the in-process limiter's carry-over does (here at the
      -- bucket's first use after the change, and kept whatever this check decides).
      local owed = math.min(math.ceil((tat - now) / was), capacity)
      tat = now + owed * interval
      moved[i] = true
    elseif tat > now + capacity * interval then
      -- Its capacity shrank (a smaller burst): it owes at most a full bucket. Never the case
      -- otherwise: a spend never runs ahead of now + capacity * interval.
      tat = now + capacity * interval
      moved[i] = true
    end
  end
  reply[2 + i] = tat
  if fits then
    local next = math.max(tat, now) + cost * interval
    if next > now + capacity * interval then
      fits = false
    end
    spent[i] = next
  end
end

-- Bucket i's arrival time becomes tat, expiring when the bucket is full again.
local function store(i, tat)
  local value = string.format('%.0f %s', tat, ARGV[1 + 2 * i])
  redis.call('SET', KEYS[i], value, 'PXAT', string.format('%.0f', math.ceil(tat / 1000)))
end

if fits then
  for i = 1, #KEYS do
    store(i, spent[i])
  end
  reply[1] = 1
else
  for i = 1, #KEYS do
    if moved[i] then
      store(i, reply[2 + i])
    end
  end
end
return reply
