-- Store one record of one entity, once per transaction (a cluster: one script per entity).
-- KEYS[1]: the entity's record (hash: r = record, v = version)
-- KEYS[2]: the transactions already applied to it (sorted set, score = event time)
-- ARGV: transaction id ("" for a label's change), event time, the version the record was
--       computed from, the record ("" when unchanged: the version is only checked), ttl in ms,
--       how many applied transaction ids to keep
-- Returns 1 (stored), 0 (this transaction was already applied: nothing changed) or, when
-- another writer changed the record since that version, {-1, its version, the record ("" for
-- none)}: nothing changed.
local txn = ARGV[1]
if txn ~= "" and redis.call("ZSCORE", KEYS[2], txn) then
    return 0
end
local found = redis.call("HMGET", KEYS[1], "v", "r")
local version = tonumber(found[1] or "0")
if version ~= tonumber(ARGV[3]) then
    return {-1, found[1] or "0", found[2] or ""}
end
if ARGV[4] == "" then
    return 1
end
redis.call("HSET", KEYS[1], "r", ARGV[4], "v", version + 1)
redis.call("PEXPIRE", KEYS[1], ARGV[5])
if txn ~= "" then
    redis.call("ZADD", KEYS[2], ARGV[2], txn)
    redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[6]) - 1)
    redis.call("PEXPIRE", KEYS[2], ARGV[5])
end
return 1
