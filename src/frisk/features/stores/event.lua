-- An event's records, stored all or none, in one round trip (one Redis, not a cluster: the keys
-- span slots).
-- KEYS: record 1, ..., record n, the clock, the transaction's applied marker, the label queue,
--       [the claim]
-- ARGV: transaction id ("" for a label's change), the time the event was computed at, n,
--       marker TTL in ms, claim TTL in ms ("" for none), claim body, then per record: the
--       version it was computed from, the record ("" when unchanged), TTL in ms
-- Returns {status, clock, time of the earliest queued label} ("" for none), then on a status
-- other than 1, each record's version and record ("" when Redis holds none). Status:
--   1  stored;
--   0  this transaction was applied already: nothing changed;
--  -1  nothing changed, compute again from the records returned: another writer changed a
--      record since the versions given, or (an event) the clock passed its time, or a label
--      queued before its time is due first.
local txn, t, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call("GET", KEYS[n + 1])
local head = redis.call("ZRANGE", KEYS[n + 3], 0, 0, "WITHSCORES")
local status = 1
if txn ~= "" then
    if redis.call("EXISTS", KEYS[n + 2]) == 1 then
        status = 0
    elseif (clock and tonumber(clock) > t) or (head[2] and tonumber(head[2]) < t) then
        status = -1
    end
end
local versions = {}
if status == 1 then
    for i = 1, n do
        versions[i] = tonumber(redis.call("HGET", KEYS[i], "v") or "0")
        if versions[i] ~= tonumber(ARGV[4 + 3 * i]) then
            status = -1
            break
        end
    end
end
if status ~= 1 then
    local out = {status, clock or "", head[2] or ""}
    for i = 1, n do
        local found = redis.call("HMGET", KEYS[i], "v", "r")
        out[#out + 1] = found[1] or "0"
        out[#out + 1] = found[2] or ""
    end
    return out
end
for i = 1, n do
    local record = ARGV[5 + 3 * i]
    if record ~= "" then
        redis.call("HSET", KEYS[i], "r", record, "v", versions[i] + 1)
        redis.call("PEXPIRE", KEYS[i], ARGV[6 + 3 * i])
    end
end
if txn ~= "" then
    redis.call("SET", KEYS[n + 2], "1", "PX", ARGV[4])
    if not clock or tonumber(clock) < t then
        redis.call("SET", KEYS[n + 1], ARGV[2])
        clock = ARGV[2]
    end
end
if ARGV[5] ~= "" then
    redis.call("SET", KEYS[n + 4], ARGV[6], "PX", ARGV[5])
end
return {1, clock or "", head[2] or ""}
