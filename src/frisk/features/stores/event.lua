-- An event on one Redis (not a cluster: its keys span slots), in one round trip: store the
-- snapshots this process sends, then take the event's place in the journal of each entity it
-- touches, all or none, and answer with what this process lacks of every record it reads (see
-- journal.lua, prepended to this script).
-- KEYS: the records the event is appended to (entities) 1..n, the records it only reads (label
--       records) n+1..n+r, snapshot 1..m, the clock, the transaction's key (its applied mark
--       and claim), the label queue's head, the label sequence; then, when the process
--       deciding the transaction claims it here, the decider's claim (see below)
-- ARGV: transaction id, the event's time, n, r, the transaction key's TTL in ms, the claim's
--       label keys as JSON without brackets ("": keep no claim), the event's change (JSON), m,
--       the label sequence as this process last saw it ("": never), the label records this
--       process holds, all brought up to date at that sequence, as JSON [[key, version], ...]
--       ("": none such; they are then among the records read), then per record appended
--       to: the version this process holds (-1: none), that version + 1 ("": none), the TTL to
--       set in ms, "1" to set it (see journal.lua);
--       per record read: the version this process holds, "2" when this process brought it up
--       to date at the label sequence it sent (read it only if the sequence moved since), else
--       "0"; then per snapshot: its version, the record's encoding, TTL in ms; then, with the
--       decider's claim, its owner and its TTL in ms
-- The decider's claim (frisk.engine.claims, "<prefix>:{decide:<id>}") is taken first: if
-- another owner holds it, nothing is written and {2} is answered; else it holds the owner
-- (set if free, left as it is if it is the owner's already), so one round trip both claims the
-- transaction and writes its event.
-- The transaction's key holds its claim, "[<time>,<label keys>]" (or "1": no claim kept): it
-- is set only if absent, so a transaction is applied once while its key lives.
-- The label sequence (label.lua raises it with every label appended to any label record)
-- spares reading label records: while it stays where a process saw it, no label record changed.
-- Labels queued (queue.lua) that arrive before the time the event is processed at are taken
-- from the queue and appended to their label records here, before the event reads them, in the
-- order they were queued: no label is ever taken from the queue and not applied, and an event
-- with labels due costs no round trip more (unless more than DUE_AT_ONCE are due: see apply_due).
-- Returns {status, the time the event is processed at (the clock, if the event is behind it),
-- the earliest queued label's arrival time ("" for none), the label sequence} followed by
-- take's answer for each record. Status:
--   1  the event is in every journal;
--   0  this transaction was applied already: nothing changed (the answers include it);
--   2  another owner holds the decider's claim: nothing changed, nothing else is answered;
--   3  more labels are due than one call applies: those it applied are in, nothing of the event
--      is, nothing else is answered (send the event again).
-- Times are µs below 2^53 (year 2255), compared as numbers when their lengths differ, else as
-- text (equal-length decimals sort as their numbers; making numbers costs more in Lua).
local function before(a, b)  -- a < b, for non-negative decimal strings
    if #a ~= #b then
        return #a < #b
    end
    return a < b
end

-- Apply the labels queued that arrive before ``at``, at most DUE_AT_ONCE of them (a backlog,
-- after a bulk import of labels, must not hold Redis for long: the event is then refused, status
-- 3, with nothing of it written, and the process sends it again); answers whether all were, and
-- the queue's head after ("" for none). ``plan`` (LABEL_PLAN, the store's layout compiled into
-- this script by the store, so that no event sends it) is JSON: [the queue's key, the label
-- horizon in µs, the claims' key prefix, then per label space: [its keys' prefix, the TTL in
-- ms]]; a queued label is "<20-digit sequence>" and the JSON [arrival time, transaction id,
-- label, [transaction time, label keys...] or null], null when the label's transaction is found
-- by its claim, "[<time>,<label keys...>]". A label counts if it arrives within the horizon
-- after its transaction; it is appended to each of its transaction's label records as
-- "<arrival time> [<label>,<transaction time>]" and raises the label sequence. Every label taken
-- is read and decoded before anything is written (one that does not decode is dropped), so an
-- error cannot leave labels taken and not applied. Numbers decoded by cjson are doubles: times
-- below 2^53 µs stay exact.
local DUE_AT_ONCE = 500
local function apply_due(at, plan_json, head_key, sequence)
    local plan = cjson.decode(plan_json)
    local queue, horizon, claims = plan[1], plan[2], plan[3]
    local due = redis.call("ZRANGEBYSCORE", queue, "-inf", "(" .. at, "LIMIT", 0, DUE_AT_ONCE)
    local labels = {}
    for i = 1, #due do
        local ok, label = pcall(cjson.decode, string.sub(due[i], 21))
        if ok and type(label) == "table" and type(label[1]) == "number" then
            local found = label[4]
            if found == cjson.null then
                found = nil
                local held = redis.call("GET", claims .. tostring(label[2]) .. "}")
                if held and string.sub(held, 1, 1) == "[" then
                    local decoded, value = pcall(cjson.decode, held)
                    found = decoded and value or nil
                end
            end
            local arrival = label[1]
            if type(found) == "table" and type(found[1]) == "number"
                and found[1] <= arrival and arrival < found[1] + horizon then
                local entry = int(arrival) .. " [" .. int(label[3]) .. "," .. int(found[1]) .. "]"
                local keys = {}
                for s = 4, #plan do
                    local key = found[s - 2]
                    if type(key) == "string" then
                        keys[#keys + 1] = {plan[s][1] .. key .. "}", int(plan[s][2])}
                    end
                end
                labels[#labels + 1] = {entry, keys}
            end
        end
    end
    -- writes from here on
    for i = 1, #due, 1000 do
        redis.call("ZREM", queue, unpack(due, i, math.min(i + 999, #due)))
    end
    for _, label in ipairs(labels) do
        for _, key in ipairs(label[2]) do
            take(key[1], "-2", "", label[1], key[2], "1", 0, "")
        end
        if #label[2] > 0 and redis.call("INCR", sequence) == 1 then
            redis.call("SET", sequence, int(clock_us()))
        end
    end
    local first = redis.call("ZRANGE", queue, 0, 0, "WITHSCORES")
    local head = ""
    if first[2] then
        head = int(tonumber(first[2]))
        redis.call("SET", head_key, head)
    else
        redis.call("DEL", head_key)
    end
    return #due < DUE_AT_ONCE or head == "" or not before(head, at), head
end

local t, n, r, m = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[8])
local base = n + r + m
if #KEYS > base + 4 then  -- the decider's claim, before anything is written
    local a = 10 + 4 * n + 2 * r + 3 * m
    local holder = redis.call("GET", KEYS[base + 5])
    if not holder then
        redis.call("SET", KEYS[base + 5], ARGV[a + 1], "PX", ARGV[a + 2])
    elseif holder ~= ARGV[a + 1] then
        return {2}
    end
end
-- snapshots first: each only replaces changes a journal holds already (the event's are after)
for i = 1, m do
    local a = 10 + 4 * n + 2 * r + 3 * (i - 1)
    take(KEYS[n + r + i], "-2", "", "", ARGV[a + 3], "", tonumber(ARGV[a + 1]), ARGV[a + 2])
end
local meta = redis.call("MGET", KEYS[base + 1], KEYS[base + 3], KEYS[base + 4])
local clock_at, head, labels = meta[1], meta[2], meta[3] or "0"
local at = t
if clock_at and before(t, clock_at) then
    at = clock_at
end
if head and before(head, at) then  -- labels due first, whether or not the event is new
    local all
    all, head = apply_due(at, LABEL_PLAN, KEYS[base + 3], KEYS[base + 4])
    if not all then
        return {3}
    end
    labels = redis.call("GET", KEYS[base + 4]) or "0"
end
local status = 1
local claim = "1"
if ARGV[6] ~= "" then
    claim = "[" .. at .. "," .. ARGV[6] .. "]"
end
if not redis.call("SET", KEYS[base + 2], claim, "NX", "PX", ARGV[5]) then
    status = 0
end
local entry = ""
if status == 1 then
    entry = at .. " " .. ARGV[7]
    if at ~= clock_at then
        redis.call("SET", KEYS[base + 1], at)
    end
end
local out = {status, at, head or "", labels}
for i = 1, n do
    local a = 10 + 4 * (i - 1)
    out[#out + 1] = take(KEYS[i], ARGV[a + 1], ARGV[a + 2], entry, ARGV[a + 3], ARGV[a + 4], 0, "")
end
local current = labels == ARGV[9]
for i = 1, r do
    local a = 10 + 4 * n + 2 * (i - 1)
    if current and ARGV[a + 2] == "2" then
        out[#out + 1] = ARGV[a + 1]
    else
        out[#out + 1] = take(KEYS[n + i], ARGV[a + 1], "", "", "", "", 0, "")
    end
end
-- the label records sent as one argument: answered (after the others) only if a label reached
-- any record since this process last saw the sequence (keys outside KEYS: one Redis only)
if ARGV[10] ~= "" and not current then
    for _, record in ipairs(cjson.decode(ARGV[10])) do
        out[#out + 1] = take(record[1], record[2], "", "", "", "", 0, "")
    end
end
return out
