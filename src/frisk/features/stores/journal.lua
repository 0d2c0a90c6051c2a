-- One entity's state in Redis is a journal, a hash: "v" is its version (raised by each change
-- appended), "sv" the version of its snapshot "s" (the record after change sv; none: the
-- journal's first version), "x" the TTL window in which its TTL was last set (see below), and
-- change n (sv < n <= v) is the field "n", as "<time> <change>". Any process applies the
-- changes it has not seen to its copy of the record; one that holds none starts from the
-- snapshot. Processes send snapshots (the changes they cover are dropped).
--
-- A new journal's versions start at Redis's clock in µs, not at 0: a process still holding a
-- record of an earlier journal of the same key (one that expired) finds its version outside the
-- new journal's and starts from the snapshot, never taking the new changes for those after its
-- copy. (µs since 1970 stay below 2^53, so Lua's doubles hold every version exactly.)
--
-- The TTL: Redis's clock (in whole seconds) is cut into windows of ``ttl``/64; a change appended
-- sets the key to expire ``ttl`` + ``ttl``/64 + 1 s from now, unless the TTL was set in the same
-- window already ("x"): that was less than ``ttl``/64 + 1 s ago, so the key expires at least
-- ``ttl`` after this change anyway. A hot entity's TTL is set once per window, not at every
-- change (a key lives at most 1/64 and a second longer than its lifetime).
--
-- Versions cross the wire as decimal strings: a process's version is compared with the
-- journal's as text, and numbers are made (a cost in Redis's Lua) only when they differ.
local function int(n)
    return string.format("%d", n)
end

-- Redis's clock, once per script: {seconds, µs} as TIME answers
local function clock()
    return redis.call("TIME")
end

local function clock_us(now)
    return tonumber(now[1]) * 1000000 + tonumber(now[2])
end

-- per TTL (ms, a decimal string): {the window Redis's clock is in, the TTL to set in ms}
local windows = {}
local function window(ttl, now)
    local w = windows[ttl]
    if not w then
        local slack = math.floor(tonumber(ttl) / 64)
        local at = math.floor(tonumber(now[1]) * 1000 / math.max(slack, 1))
        w = {int(at), tonumber(ttl) + slack + 1000}
        windows[ttl] = w
    end
    return w
end

-- take(key, known, next, entry, ttl, snap_version, snap, now): store the snapshot sent (a
-- version, as a number; 0: none), if it is newer than the one held and not past the journal
-- (the changes it covers are dropped); answer what a process holding the record at version
-- ``known`` (a decimal string; "-1": it holds none; "-2": answer nothing) lacks; then append
-- ``entry`` (unless "") and keep the key's TTL as above. ``next`` is known + 1 as text (""
-- when the process holds none), ``ttl`` the record's TTL in ms (text), ``now`` clock().
-- Answers v (the version before the entry, a number, or ``known`` itself) when the process
-- lacks nothing (known = v);
-- {v, -1, ""} followed by changes known+1..v when it lacks changes; or, when ``known`` is not
-- within sv..v, {v, sv, the snapshot ("" for none)} followed by changes sv+1..v. A key that
-- does not exist answers {0, 0, ""}.
local function take(key, known, next, entry, ttl, snap_version, snap, now)
    local held = redis.call("HMGET", key, "v", "sv", "x")
    local out
    if held[1] and held[1] == known and snap_version == 0 then
        out = known  -- the common case: this process holds the journal's last version
    else
        local v, sv, new = 0, 0, false
        if held[1] then
            v, sv = tonumber(held[1]), tonumber(held[2])
        elseif entry ~= "" then
            v, new = clock_us(now), true
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
            local w = window(ttl, now)
            local after = int(v + 1)
            if new then
                redis.call("HSET", key, after, entry, "v", after, "sv", int(sv), "x", w[1])
                redis.call("PEXPIRE", key, w[2])
            elseif held[3] ~= w[1] then
                redis.call("HSET", key, after, entry, "v", after, "x", w[1])
                redis.call("PEXPIRE", key, w[2])
            else
                redis.call("HSET", key, after, entry, "v", after)
            end
        end
        return out
    end
    if entry ~= "" then
        local w = window(ttl, now)
        if held[3] ~= w[1] then
            redis.call("HSET", key, next, entry, "v", next, "x", w[1])
            redis.call("PEXPIRE", key, w[2])
        else
            redis.call("HSET", key, next, entry, "v", next)
        end
    end
    return out
end
