-- One entity's part of an event or a label on a Redis Cluster (one script per entity, each in
-- its own slot; see journal.lua, prepended to this script).
-- KEYS[1]: the entity's journal; KEYS[2]: the transactions applied to it (sorted set)
-- ARGV: transaction id ("" for a label), the time, the version this process holds (-1: none;
--       -2: answer nothing), "1" to append the change ("0": only read), the TTL to set in ms (with
--       every change appended), the version of
--       the snapshot sent (0: none), the snapshot, how many transaction ids to keep, the change
-- Returns {status} followed by take's answer: status 1 (appended, or only read) or 0 (this
-- transaction is in the journal already: nothing changed; the answer includes it).
local txn = ARGV[1]
local status = 1
local entry = ""
if ARGV[4] == "1" then
    if txn ~= "" and redis.call("ZSCORE", KEYS[2], txn) then
        status = 0
    else
        entry = ARGV[2] .. " " .. ARGV[9]
        if txn ~= "" then
            redis.call("ZADD", KEYS[2], ARGV[2], txn)
            redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[8]) - 1)
            redis.call("PEXPIRE", KEYS[2], ARGV[5])
        end
    end
end
local known = ARGV[3]
local next = ""
if tonumber(known) >= 0 then
    next = int(tonumber(known) + 1)
end
local out = take(KEYS[1], known, next, entry, ARGV[5], "1", tonumber(ARGV[6]), ARGV[7])
if type(out) ~= "table" then  -- the version this process holds: it lacks nothing
    out = {out, -1, ""}
end
table.insert(out, 1, status)
return out
