-- An event's records, stored all or none (one Redis, not a cluster: the keys span slots).
-- KEYS: record 1, applied ids 1, ..., record n, applied ids n, the clock, [the claim]
-- ARGV: transaction id ("" for a label's change), event time, n, ids kept per entity,
--       claim TTL in ms ("" for none), claim body, then per record: version, record, TTL in ms
-- Returns 1 (stored), 0 (this transaction was already applied to every record: nothing changed)
-- or -1 (another writer changed a record since it was loaded: nothing changed, load again).
local txn, n, keep = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local done = {}
local applied = 0
for i = 1, n do
    done[i] = txn ~= "" and redis.call("ZSCORE", KEYS[2 * i], txn) ~= false
    if done[i] then
        applied = applied + 1
    end
end
if n > 0 and applied == n then
    return 0
end
for i = 1, n do
    if not done[i] then
        local version = tonumber(redis.call("HGET", KEYS[2 * i - 1], "v") or "0")
        if version ~= tonumber(ARGV[4 + 3 * i]) then
            return -1
        end
    end
end
for i = 1, n do
    if not done[i] then
        local record, ids = KEYS[2 * i - 1], KEYS[2 * i]
        local version = tonumber(redis.call("HGET", record, "v") or "0")
        redis.call("HSET", record, "r", ARGV[5 + 3 * i], "v", version + 1)
        redis.call("PEXPIRE", record, ARGV[6 + 3 * i])
        if txn ~= "" then
            redis.call("ZADD", ids, ARGV[2], txn)
            redis.call("ZREMRANGEBYRANK", ids, 0, -keep - 1)
            redis.call("PEXPIRE", ids, ARGV[6 + 3 * i])
        end
    end
end
if txn ~= "" then
    local clock = redis.call("GET", KEYS[2 * n + 1])
    if not clock or tonumber(clock) < tonumber(ARGV[2]) then
        redis.call("SET", KEYS[2 * n + 1], ARGV[2])
    end
end
if ARGV[5] ~= "" then
    redis.call("SET", KEYS[2 * n + 2], ARGV[6], "PX", ARGV[5])
end
return 1
