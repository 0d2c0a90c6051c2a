-- An event on one Redis (not a cluster: its keys span slots), in one round trip: take its
-- place in the journal of each entity it touches, all or none, and answer with what this
-- process lacks of every record it reads (see journal.lua, prepended to this script).
-- KEYS: record 1, ..., record n, the clock, the transaction's applied marker, the label queue,
--       [the claim]
-- ARGV: transaction id, the event's time, n, marker TTL in ms, claim TTL in ms ("" for none),
--       the claim's label keys as JSON without brackets, the event's change (JSON), then per
--       record: the version this process holds (-1: none), "1" to append the event ("0": only
--       read, a label record), TTL in ms
-- Returns {status, the time the event is processed at (the clock, if the event is behind it),
-- the earliest queued label's arrival time ("" for none)} followed by take's answer for each
-- record. Status:
--   1  the event is in every journal;
--   0  this transaction was applied already: nothing changed (the answers include it);
--  -1  nothing changed and nothing else is answered: a label queued before the event's time
--      is due first (apply it, then start the event again).
-- Event times are below 2^53 µs (year 2255), so Lua's doubles compare them exactly.
local txn, t, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local clock = redis.call("GET", KEYS[n + 1])
local head = redis.call("ZRANGE", KEYS[n + 3], 0, 0, "WITHSCORES")
local at = t
if clock and tonumber(clock) > tonumber(t) then
    at = clock
end
local status = 1
if redis.call("EXISTS", KEYS[n + 2]) == 1 then
    status = 0
elseif head[2] and tonumber(head[2]) < tonumber(at) then
    return {-1, clock or "", head[2]}
end
local entry = ""
if status == 1 then
    entry = at .. " " .. ARGV[7]
    redis.call("SET", KEYS[n + 2], "1", "PX", ARGV[4])
    redis.call("SET", KEYS[n + 1], at)
    if ARGV[5] ~= "" then
        redis.call("SET", KEYS[n + 4], "[" .. at .. "," .. ARGV[6] .. "]", "PX", ARGV[5])
    end
end
local out = {status, at, head[2] or ""}
for i = 1, n do
    local a = 7 + 3 * (i - 1)
    local e = ""
    if ARGV[a + 2] == "1" then
        e = entry
    end
    out[#out + 1] = take(KEYS[i], tonumber(ARGV[a + 1]), e, ARGV[a + 3], 0, "")
end
return out
