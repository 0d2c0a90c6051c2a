-- Take the labels that arrived before an event time.
-- KEYS[1]: queued labels (sorted set, score = arrival time, member = sequence number + JSON);
-- KEYS[2]: the queue's head (see queue.lua)
-- ARGV[1]: the event time; labels arriving strictly before it are due
-- Returns {the queue's head after ("" for none), the labels due...}.
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
local head
if #due > 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
    local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
    if first[2] then
        head = string.format("%d", tonumber(first[2]))
        redis.call("SET", KEYS[2], head)
    else
        redis.call("DEL", KEYS[2])
    end
else
    head = redis.call("GET", KEYS[2])
end
local out = {head or ""}
for i = 1, #due do
    out[#out + 1] = due[i]
end
return out
