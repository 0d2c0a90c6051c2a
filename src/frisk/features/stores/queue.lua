-- Queue a label; labels of one arrival time come out in the order they were queued.
-- KEYS[1]: queued labels (sorted set, score = arrival time); KEYS[2]: the queue's sequence;
-- KEYS[3]: the queue's head (the earliest arrival time queued, a decimal string; none: empty),
--          which event.lua reads with the clock in one MGET
-- ARGV[1]: the arrival time (µs, decimal); ARGV[2]: the label as JSON
local seq = redis.call("INCR", KEYS[2])
-- Equal scores sort by member: a zero-padded sequence number first keeps the queueing order.
redis.call("ZADD", KEYS[1], ARGV[1], string.format("%020d", seq) .. ARGV[2])
local head = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
redis.call("SET", KEYS[3], string.format("%d", tonumber(head[2])))
return seq
