-- One entity's state in Redis is a journal, a hash: "v" is its version (the number of changes
-- appended so far), "sv" the version of its snapshot "s" (the record after change sv; none: 0),
-- and change n (sv < n <= v) is the field "n", as "<time> <change>". Any process applies the
-- changes it has not seen to its copy of the record; one that holds none starts from the
-- snapshot. Every process sends a snapshot once its copy is some changes past the one held.
--
-- take(key, known, entry, ttl, snap_version, snap): store the snapshot sent (if it is newer than
-- the one held and not past the journal: the changes it covers are dropped); answer what a
-- process holding the record at version ``known`` lacks (known -1: it holds none; -2: answer
-- nothing); then append ``entry`` (unless "") and refresh the key's TTL (ms).
-- Answers {v before the entry, -1, ""} followed by changes known+1..v, or, when ``known`` is
-- not within sv..v, {v, sv, the snapshot ("" for none)} followed by changes sv+1..v.
-- Versions are small integers: Lua's doubles hold them exactly.
local function take(key, known, entry, ttl, snap_version, snap)
    local held = redis.call("HMGET", key, "v", "sv")
    local v, sv = tonumber(held[1] or "0"), tonumber(held[2] or "0")
    if snap_version > sv and snap_version <= v then
        local gone = {}
        for n = sv + 1, snap_version do
            gone[#gone + 1] = tostring(n)
        end
        redis.call("HDEL", key, unpack(gone))
        redis.call("HSET", key, "s", snap, "sv", tostring(snap_version))
        sv = snap_version
    end
    local out = {}
    if known ~= -2 then
        local from
        if known >= sv and known <= v then
            out, from = {v, -1, ""}, known + 1
        else
            out, from = {v, sv, redis.call("HGET", key, "s") or ""}, sv + 1
        end
        if from <= v then
            local fields = {}
            for n = from, v do
                fields[#fields + 1] = tostring(n)
            end
            local found = redis.call("HMGET", key, unpack(fields))
            for i = 1, #found do
                out[#out + 1] = found[i] or ""
            end
        end
    end
    if entry ~= "" then
        redis.call("HSET", key, tostring(v + 1), entry, "v", tostring(v + 1))
        redis.call("PEXPIRE", key, ttl)
    end
    return out
end
