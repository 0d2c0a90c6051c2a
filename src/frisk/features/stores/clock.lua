-- Move the shared clock forward, never back; answer with it and the label queue's head.
-- KEYS[1]: the clock (microseconds as a decimal string); KEYS[2]: the label queue
-- ARGV[1]: the event time
-- Returns {the clock, the earliest queued label's arrival time ("" for none)}.
-- Event times are below 2^53 µs (year 2255), so Lua's doubles compare them exactly.
local clock = redis.call("GET", KEYS[1])
if not clock or tonumber(clock) < tonumber(ARGV[1]) then
    redis.call("SET", KEYS[1], ARGV[1])
    clock = ARGV[1]
end
local head = redis.call("ZRANGE", KEYS[2], 0, 0, "WITHSCORES")
return {clock, head[2] or ""}
