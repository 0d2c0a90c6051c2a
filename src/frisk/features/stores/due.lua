-- Take the labels that arrived before an event time.
-- KEYS[1]: queued labels (sorted set, score = arrival time, member = sequence number + JSON)
-- ARGV[1]: the event time; labels arriving strictly before it are due
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
if #due > 0 then
    redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
end
return due
