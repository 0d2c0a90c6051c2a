-- An event on one Redis (not a cluster: its keys span slots), in one round trip: store the
-- snapshots this process sends, then take the event's place in the journal of each entity it
-- touches, all or none, and answer with what this process lacks of every record it reads (see
-- journal.lua, prepended to this script).
-- KEYS: record 1, ..., record n, snapshot 1, ..., snapshot m, the clock, the transaction's
--       applied marker, the label queue, the label sequence, [the claim]
-- ARGV: transaction id, the event's time, n, marker TTL in ms, claim TTL in ms ("" for none),
--       the claim's label keys as JSON without brackets, the event's change (JSON), m, the
--       label sequence as this process last saw it ("": never), then per record: the version
--       this process holds (-1: none), "1" to append the event ("0": only read, a label record;
--       "2": a label record this process brought up to date at the label sequence it sent,
--       read only if the sequence moved since), TTL in ms; then per snapshot: its version, the
--       record's encoding, TTL in ms
-- The label sequence (label.lua raises it with every label appended to any label record)
-- spares reading label records: while it stays where a process saw it, no label record changed.
-- Returns {status, the time the event is processed at (the clock, if the event is behind it),
-- the earliest queued label's arrival time ("" for none), the label sequence} followed by
-- take's answer for each record. Status:
--   1  the event is in every journal;
--   0  this transaction was applied already: nothing changed (the answers include it);
--  -1  nothing changed but the snapshots, and nothing else is answered: a label queued before
--      the event's time is due first (apply it, then start the event again).
-- Event times are below 2^53 µs (year 2255), so Lua's doubles compare them exactly.
local txn, t, n, m = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[8])
local now = clock_us()
-- snapshots first: each only replaces changes a journal holds already (the event's are after)
for i = 1, m do
    local a = 9 + 3 * n + 3 * (i - 1)
    take(KEYS[n + i], -2, "", tonumber(ARGV[a + 3]), tonumber(ARGV[a + 1]), ARGV[a + 2], now)
end
local base = n + m
local meta = redis.call("MGET", KEYS[base + 1], KEYS[base + 4])
local clock, labels = meta[1], meta[2] or "0"
local head = redis.call("ZRANGE", KEYS[base + 3], 0, 0, "WITHSCORES")
local at = t
if clock and tonumber(clock) > tonumber(t) then
    at = clock
end
local status = 1
if not redis.call("SET", KEYS[base + 2], "1", "NX", "PX", ARGV[4]) then
    status = 0
elseif head[2] and tonumber(head[2]) < tonumber(at) then
    redis.call("DEL", KEYS[base + 2])
    return {-1, clock or "", head[2]}
end
local entry = ""
if status == 1 then
    entry = at .. " " .. ARGV[7]
    if at ~= clock then
        redis.call("SET", KEYS[base + 1], at)
    end
    if ARGV[5] ~= "" then
        redis.call("SET", KEYS[base + 5], "[" .. at .. "," .. ARGV[6] .. "]", "PX", ARGV[5])
    end
end
local out = {status, at, head[2] or "", labels}
local current = labels == ARGV[9]
for i = 1, n do
    local a = 9 + 3 * (i - 1)
    local mode = ARGV[a + 2]
    if mode == "2" and current then
        out[#out + 1] = ARGV[a + 1]
    else
        local e = ""
        if mode == "1" then
            e = entry
        end
        out[#out + 1] = take(KEYS[i], tonumber(ARGV[a + 1]), e, tonumber(ARGV[a + 3]), 0, "", now)
    end
end
return out
