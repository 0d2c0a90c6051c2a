-- A label's change, appended to the journal of each of its label records (one Redis: the keys
-- span slots; a cluster sends entity.lua per record). See journal.lua, prepended to this script.
-- KEYS: the label records. ARGV: the change as "<arrival time> <change>", then per record its
-- TTL in ms.
for i = 1, #KEYS do
    take(KEYS[i], -2, ARGV[1], ARGV[1 + i], 0, "")
end
return #KEYS
