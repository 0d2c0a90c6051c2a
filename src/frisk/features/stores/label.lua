-- A label's change, appended to the journal of each of its label records (one Redis: the keys
-- span slots; a cluster sends entity.lua per record), and the label sequence raised (see
-- event.lua). See journal.lua, prepended to this script.
-- KEYS: the label records, then the label sequence. ARGV: the change as
-- "<arrival time> <change>", then per record the TTL to set in ms.
-- A new sequence starts at Redis's clock in µs, so one deleted and started again never comes
-- back to a value a process saw before.
local n = #KEYS - 1
for i = 1, n do
    take(KEYS[i], "-2", "", ARGV[1], ARGV[1 + i], "1", 0, "")
end
if redis.call("INCR", KEYS[n + 1]) == 1 then
    redis.call("SET", KEYS[n + 1], int(clock_us()))
end
return n
