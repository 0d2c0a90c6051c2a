"""The Redis store's client-side record cache: bounded, least recently used, and never handing
out a record that an unfinished event may have half-changed."""

from __future__ import annotations

from frisk.features.stores.redis_cache import RecordCache


def test_unknown_keys_are_absent_and_known_ones_keep_their_versions() -> None:
    cache = RecordCache(4)
    cache.put("a", 3, 1, ["record a"])
    assert cache.take(["a", "b"]) == [(3, 1, ["record a"], 0, -1, 0.0), None]


def test_the_least_recently_used_record_goes_first() -> None:
    cache = RecordCache(2)
    cache.put("a", 1, 0, "A")
    cache.put("b", 1, 0, "B")
    cache.take(["a"])
    cache.returned()
    cache.put("c", 1, 0, "C")  # over the size: "b" was used least recently
    assert len(cache) == 2
    assert cache.take(["a", "b", "c"]) == [(1, 0, "A", 0, -1, 0.0), None, (1, 0, "C", 0, -1, 0.0)]


def test_records_handed_out_and_never_returned_are_dropped() -> None:
    cache = RecordCache(8)
    cache.put("a", 2, 0, {"n": 1})
    ((_, _, record, _, _, _),) = cache.take(["a"])  # type: ignore[misc]
    record["n"] = 2  # an event changed it in place, then failed before its commit
    assert cache.take(["a"]) == [None]


def test_records_returned_stay() -> None:
    cache = RecordCache(8)
    cache.put("a", 2, 0, "A")
    cache.take(["a"])
    cache.put("a", 3, 0, "A'", 120, 7, 5.0)
    cache.returned()
    assert cache.take(["a"]) == [(3, 0, "A'", 120, 7, 5.0)]
