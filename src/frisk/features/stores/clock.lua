-- Move the shared clock forward, never back.
-- KEYS[1]: the clock (microseconds as a decimal string)
-- ARGV[1]: the event time
-- Event times are below 2^53 µs (year 2255), so Lua's doubles compare them exactly.
local clock = redis.call("GET", KEYS[1])
if not clock or tonumber(clock) < tonumber(ARGV[1]) then
    redis.call("SET", KEYS[1], ARGV[1])
    return ARGV[1]
end
return clock
