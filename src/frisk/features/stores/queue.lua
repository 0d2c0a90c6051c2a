-- Queue a label; labels of one arrival time come out in the order they were queued.
-- KEYS[1]: queued labels (sorted set, score = arrival time); KEYS[2]: the queue's sequence
-- ARGV[1]: the arrival time (µs, decimal); ARGV[2]: the label as JSON
local seq = redis.call("INCR", KEYS[2])
-- Equal scores sort by member: a zero-padded sequence number first keeps the queueing order.
redis.call("ZADD", KEYS[1], ARGV[1], string.format("%020d", seq) .. ARGV[2])
return seq
