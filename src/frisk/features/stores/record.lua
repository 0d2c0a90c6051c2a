-- Store one record of one entity, once per transaction.
-- KEYS[1]: the entity's record (hash: r = record, v = version)
-- KEYS[2]: the transactions already applied to it (sorted set, score = event time)
-- ARGV: transaction id ("" for a label's change), event time, the version the record was
--       loaded at, the record, ttl in ms, how many applied transaction ids to keep
-- Returns 1 (stored), 0 (this transaction was already applied: nothing changed) or -1 (another
-- writer changed the record since it was loaded: nothing changed).
local txn = ARGV[1]
if txn ~= "" and redis.call("ZSCORE", KEYS[2], txn) then
    return 0
end
local version = tonumber(redis.call("HGET", KEYS[1], "v") or "0")
if version ~= tonumber(ARGV[3]) then
    return -1
end
redis.call("HSET", KEYS[1], "r", ARGV[4], "v", version + 1)
redis.call("PEXPIRE", KEYS[1], ARGV[5])
if txn ~= "" then
    redis.call("ZADD", KEYS[2], ARGV[2], txn)
    redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[6]) - 1)
    redis.call("PEXPIRE", KEYS[2], ARGV[5])
end
return 1
