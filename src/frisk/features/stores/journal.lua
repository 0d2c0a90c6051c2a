-- One entity's state in Redis is a journal, a hash: "v" is its version (raised by each change
-- appended), "sv" the version of its snapshot "s" (the record after change sv; none: the
-- journal's first version), "x" when its TTL was last set (Redis's clock, µs), and change n
-- (sv < n <= v) is the field "n", as "<time> <change>". Any process applies the changes it has
-- not seen to its copy of the record; one that holds none starts from the snapshot. Processes
-- send snapshots (the changes they cover are dropped).
--
-- A new journal's versions start at Redis's clock in µs, not at 0: a process still holding a
-- record of an earlier journal of the same key (one that expired) finds its version outside the
-- new journal's and starts from the snapshot, never taking the new changes for those after its
-- copy. (µs since 1970 stay below 2^53, so Lua's doubles hold every version exactly.)
--
-- The TTL: a change appended sets the key to expire ``ttl`` + ``ttl``/64 ms from now, unless
-- the TTL was set less than ``ttl``/64 ms ago ("x"): it then expires at least ``ttl`` ms after
-- this change already, and a hot entity's PEXPIRE is skipped (a key lives at most 1/64 longer).
--
-- take(key, known, entry, ttl, snap_version, snap, now): store the snapshot sent (if it is newer
-- than the one held and not past the journal: the changes it covers are dropped); answer what a
-- process holding the record at version ``known`` lacks (known -1: it holds none; -2: answer
-- nothing); then append ``entry`` (unless "") and keep the key's TTL (ms, a number) as above.
-- ``now``: Redis's clock in µs (TIME, once per script).
-- Answers v (the version before the entry) when the process lacks nothing (known = v);
-- {v, -1, ""} followed by changes known+1..v when it lacks changes; or, when ``known`` is not
-- within sv..v, {v, sv, the snapshot ("" for none)} followed by changes sv+1..v. A key that
-- does not exist answers {0, 0, ""}.
local function int(n)
    return string.format("%d", n)
end

local function clock_us()
    local now = redis.call("TIME")
    return tonumber(now[1]) * 1000000 + tonumber(now[2])
end

local function take(key, known, entry, ttl, snap_version, snap, now)
    local held = redis.call("HMGET", key, "v", "sv", "x")
    local v, sv, new = 0, 0, false
    if held[1] then
        v, sv = tonumber(held[1]), tonumber(held[2])
    elseif entry ~= "" then
        v, sv, new = now, now, true
    end
    if snap_version > sv and snap_version <= v then
        local gone = {}
        for n = sv + 1, snap_version do
            gone[#gone + 1] = int(n)
        end
        redis.call("HDEL", key, unpack(gone))
        redis.call("HSET", key, "s", snap, "sv", int(snap_version))
        sv = snap_version
    end
    local out = v
    if known ~= -2 and known ~= v then
        local from
        if known >= sv and known <= v then
            out, from = {v, -1, ""}, known + 1
        else
            out, from = {v, sv, redis.call("HGET", key, "s") or ""}, sv + 1
        end
        if from <= v then
            local fields = {}
            for n = from, v do
                fields[#fields + 1] = int(n)
            end
            local found = redis.call("HMGET", key, unpack(fields))
            for i = 1, #found do
                out[#out + 1] = found[i] or ""
            end
        end
    end
    if entry ~= "" then
        local next = int(v + 1)
        local slack = math.floor(ttl / 64)
        if new then
            redis.call("HSET", key, next, entry, "v", next, "sv", int(sv), "x", int(now))
            redis.call("PEXPIRE", key, ttl + slack)
        elseif now - tonumber(held[3] or "0") > slack * 1000 then
            redis.call("HSET", key, next, entry, "v", next, "x", int(now))
            redis.call("PEXPIRE", key, ttl + slack)
        else
            redis.call("HSET", key, next, entry, "v", next)
        end
    end
    return out
end
