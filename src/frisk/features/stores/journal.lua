-- One entity's state in Redis is a journal, a hash: "v" is its version (raised by each change
-- appended), "sv" the version of its snapshot "s" (the record after change sv; none: the
-- journal's first version), and change n (sv < n <= v) is the field "n", as
-- "<time> <change>". Any process applies the changes it has not seen to its copy of the record;
-- one that holds none starts from the snapshot. Processes send snapshots (the changes they
-- cover are dropped).
--
-- A new journal's versions start at Redis's clock in µs, not at 0: a process still holding a
-- record of an earlier journal of the same key (one that expired) finds its version outside the
-- new journal's and starts from the snapshot, never taking the new changes for those after its
-- copy. (µs since 1970 stay below 2^53, so Lua's doubles hold every version exactly.)
--
-- The TTL: a change appended sets the key to expire ``expire`` ms from now (a record's lifetime
-- and 1/64 of it, sent by the process) when the process asks for it, which a process does when
-- it has not set that key's TTL itself for 1/128 of it: so a key expires at least its lifetime
-- after its last change, and a hot entity's TTL is not set at every change. A new journal's is
-- always set.
--
-- Versions cross the wire as decimal strings: a process's version is compared with the
-- journal's as text, and numbers are made (a cost in Redis's Lua) only when they differ.
local function int(n)
    return string.format("%d", n)
end

-- Redis's clock in µs, read once per script (every journal a script starts takes it as its
-- first version: versions are compared within one key only)
local now_us
local function clock_us()
    if not now_us then
        local now = redis.call("TIME")
        now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
    end
    return now_us
end

-- take(key, known, next, entry, expire, refresh, snap_version, snap): store the snapshot sent (a
-- version, as a number; 0: none), if it is newer than the one held and not past the journal
-- (the changes it covers are dropped); answer what a process holding the record at version
-- ``known`` (a decimal string; "-1": it holds none; "-2": answer nothing) lacks; then append
-- ``entry`` (unless "") and set the key's TTL to ``expire`` ms if ``refresh`` is "1" or the
-- journal is new. ``next`` is known + 1 as text ("" when the process holds none).
-- Answers v (the version before the entry, a number, or ``known`` itself) when the process
-- lacks nothing (known = v); {v, -1, ""} followed by changes known+1..v when it lacks changes;
-- or, when ``known`` is not within sv..v, {v, sv, the snapshot ("" for none)} followed by
-- changes sv+1..v. A key that does not exist answers {0, 0, ""}.
local function take(key, known, next, entry, expire, refresh, snap_version, snap)
    local held = redis.call("HMGET", key, "v", "sv")
    local out, new, sv
    if held[1] and held[1] == known and snap_version == 0 then
        out = known  -- the common case: this process holds the journal's last version
    else
        local v = 0
        sv, new = 0, false
        if held[1] then
            v, sv = tonumber(held[1]), tonumber(held[2])
        elseif entry ~= "" then
            v, new = clock_us(), true
            sv = v
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
        local k = tonumber(known)
        if k == v then
            out = v
        elseif k ~= -2 then
            local from
            if k >= sv and k <= v then
                out, from = {v, -1, ""}, k + 1
            elseif not held[1] then  -- no journal (or a new one): no snapshot to read
                out, from = {v, sv, ""}, sv + 1
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
            next = int(v + 1)
        end
    end
    if entry ~= "" then
        if new then
            redis.call("HSET", key, next, entry, "v", next, "sv", int(sv))
        else
            redis.call("HSET", key, next, entry, "v", next)
        end
        if new or refresh == "1" then
            redis.call("PEXPIRE", key, expire)
        end
    end
    return out
end
