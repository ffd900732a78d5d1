"""The Redis engine's atomic steps, as Lua scripts run by the server (spec §24.4).

Keys of a room (``P`` = ``hr:`` and the hex of the hashed room tag, spec §24.5):
``P:seats`` (hash slot -> node id and class digit), ``P:free`` (sorted set of
freed slots), ``P:next`` (the next never-used slot), ``P:seq`` (the number of the
last record), ``P:log`` (the stream: the room's one order, trimmed to about
``maxlen`` records).  Per node: ``hr:node:N`` (its liveness, with a TTL),
``hr:node:N:rooms`` (the rooms where it holds seats); ``hr:nodes`` lists the
nodes; ``hr:epoch`` is random, set once by the first node after the engine
started empty.  Each script is one atomic step: a slot is taken, freed or moved in the
same step as its record is appended, so seats and order always agree.
"""

from __future__ import annotations

_COMMON = """
local function K(p, name) return p .. ':' .. name end
local function append(p, maxlen, ...)
  local q = redis.call('INCR', K(p, 'seq'))
  redis.call('XADD', K(p, 'log'), 'MAXLEN', '~', maxlen, '*', 'q', q, ...)
  return q
end
local function free(p, slot, node, maxlen, linger)
  local seat = redis.call('HGET', K(p, 'seats'), slot)
  if not seat or string.sub(seat, 1, 16) ~= node then return 0 end
  redis.call('HDEL', K(p, 'seats'), slot)
  append(p, maxlen, 't', 'L', 's', slot)
  if redis.call('HLEN', K(p, 'seats')) == 0 then
    redis.call('DEL', K(p, 'free'), K(p, 'next'))
    redis.call('PEXPIRE', K(p, 'seq'), linger)
    redis.call('PEXPIRE', K(p, 'log'), linger)
  else
    redis.call('ZADD', K(p, 'free'), slot, slot)
  end
  return 1
end
"""

#: KEYS[1] room prefix; ARGV node, key, class, max members, maxlen -> slot or -1 (full)
JOIN = _COMMON + """
local p = KEYS[1]
if redis.call('HLEN', K(p, 'seats')) >= tonumber(ARGV[4]) then return -1 end
local slot
local low = redis.call('ZPOPMIN', K(p, 'free'))
if #low > 0 then slot = tonumber(low[1]) else slot = redis.call('INCR', K(p, 'next')) - 1 end
redis.call('HSET', K(p, 'seats'), slot, ARGV[1] .. ARGV[3])
redis.call('PERSIST', K(p, 'seq'))
redis.call('PERSIST', K(p, 'log'))
redis.call('SADD', 'hr:node:' .. ARGV[1] .. ':rooms', p)
append(p, ARGV[5], 't', 'J', 's', slot, 'c', ARGV[3], 'n', ARGV[1], 'k', ARGV[2])
return slot
"""

#: KEYS[1] room prefix; ARGV slot, node, maxlen, linger ms -> 1 if freed
LEAVE = _COMMON + """
return free(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
"""

#: KEYS[1] room prefix; ARGV slot, node, class digit, maxlen -> 1 if moved
SET_CLASS = _COMMON + """
local p = KEYS[1]
local seat = redis.call('HGET', K(p, 'seats'), ARGV[1])
if not seat or string.sub(seat, 1, 16) ~= ARGV[2] or string.sub(seat, 17) == ARGV[3] then
  return 0
end
redis.call('HSET', K(p, 'seats'), ARGV[1], ARGV[2] .. ARGV[3])
append(p, ARGV[4], 't', 'S', 's', ARGV[1], 'c', ARGV[3])
return 1
"""

#: KEYS[1] room prefix; ARGV maxlen, then field, value, ... -> the record's number
APPEND = _COMMON + """
return append(KEYS[1], unpack(ARGV))
"""

#: KEYS[1] room prefix -> {seats (flat hash), last stream id, last record number}
SNAPSHOT = """
local p = KEYS[1]
local last = redis.call('XREVRANGE', p .. ':log', '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
local q = tonumber(redis.call('GET', p .. ':seq') or '0')
return {redis.call('HGETALL', p .. ':seats'), id, q}
"""

#: ARGV node, ttl ms, a fresh epoch: the node is alive for ``ttl`` more -> the engine's epoch
#: (set by the first node after the engine started empty: a change means a restart)
ALIVE = """
redis.call('SET', 'hr:node:' .. ARGV[1], '1', 'PX', ARGV[2])
redis.call('SADD', 'hr:nodes', ARGV[1])
redis.call('SET', 'hr:epoch', ARGV[3], 'NX')
return redis.call('GET', 'hr:epoch')
"""

#: ARGV maxlen, linger ms: free every seat of every node whose liveness expired
REAP = _COMMON + """
local dead = 0
for _, n in ipairs(redis.call('SMEMBERS', 'hr:nodes')) do
  if redis.call('EXISTS', 'hr:node:' .. n) == 0 then
    local rooms = 'hr:node:' .. n .. ':rooms'
    for _, p in ipairs(redis.call('SMEMBERS', rooms)) do
      local seats = redis.call('HGETALL', p .. ':seats')
      for i = 1, #seats, 2 do
        if string.sub(seats[i + 1], 1, 16) == n then free(p, seats[i], n, ARGV[1], ARGV[2]) end
      end
    end
    redis.call('DEL', rooms)
    redis.call('SREM', 'hr:nodes', n)
    dead = dead + 1
  end
end
return dead
"""
