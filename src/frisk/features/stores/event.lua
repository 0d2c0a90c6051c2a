-- An event's records, stored all or none (one Redis, not a cluster: the keys span slots).
-- KEYS: record 1, ..., record n, the clock, the transaction's applied marker, [the claim]
-- ARGV: transaction id ("" for a label's change), event time, n, marker TTL in ms,
--       claim TTL in ms ("" for none), claim body, then per record: version, record, TTL in ms
-- Returns 1 (stored), 0 (this transaction was applied already: nothing changed) or -1 (another
-- writer changed a record since it was loaded: nothing changed, load again).
local txn, n = ARGV[1], tonumber(ARGV[3])
if txn ~= "" and redis.call("EXISTS", KEYS[n + 2]) == 1 then
    return 0
end
local versions = {}
for i = 1, n do
    versions[i] = tonumber(redis.call("HGET", KEYS[i], "v") or "0")
    if versions[i] ~= tonumber(ARGV[4 + 3 * i]) then
        return -1
    end
end
for i = 1, n do
    redis.call("HSET", KEYS[i], "r", ARGV[5 + 3 * i], "v", versions[i] + 1)
    redis.call("PEXPIRE", KEYS[i], ARGV[6 + 3 * i])
end
if txn ~= "" then
    redis.call("SET", KEYS[n + 2], "1", "PX", ARGV[4])
    local clock = redis.call("GET", KEYS[n + 1])
    if not clock or tonumber(clock) < tonumber(ARGV[2]) then
        redis.call("SET", KEYS[n + 1], ARGV[2])
    end
end
if ARGV[5] ~= "" then
    redis.call("SET", KEYS[n + 3], ARGV[6], "PX", ARGV[5])
end
return 1
