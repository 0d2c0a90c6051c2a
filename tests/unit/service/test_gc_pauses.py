from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from frisk.service import gc_pauses
from frisk.service.gc_pauses import GcPauses


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # give the test process its collector back


def test_full_collections_freeze_their_survivors_and_are_measured() -> None:
    pauses = GcPauses(freeze=True).install()
    try:
        at_start = gc.get_freeze_count()
        assert at_start > 0  # start-up objects frozen on install
        survivors = [[i] for i in range(10_000)]
        gc.collect()
        assert gc.get_freeze_count() >= at_start + len(survivors)
        assert len(gc.get_objects(generation=2)) < 1_000  # what survived is frozen
        assert pauses.freezes == 1
        assert sum(pauses.counts[2]) == 1
        assert pauses.sums[2] > 0
    finally:
        pauses.remove()
    assert gc.get_freeze_count() == 0  # given back: a stopped app can be collected
    gc.collect()
    assert pauses.freezes == 1
    assert sum(pauses.counts[2]) == 1


def test_without_freeze_only_measures() -> None:
    before = gc.get_freeze_count()
    pauses = GcPauses(freeze=False).install()
    try:
        gc.collect(0)
        gc.collect()
    finally:
        pauses.remove()
    assert gc.get_freeze_count() == before
    assert pauses.freezes == 0
    assert sum(pauses.counts[0]) >= 1
    assert sum(pauses.counts[2]) == 1


def test_exported_as_a_histogram_per_generation() -> None:
    registry = CollectorRegistry()
    pauses = GcPauses(freeze=False)
    registry.register(pauses)
    pauses.install()
    try:
        gc.collect()
    finally:
        pauses.remove()
    text = generate_latest(registry).decode()
    assert 'frisk_gc_pause_seconds_count{generation="2"} 1.0' in text
    assert 'frisk_gc_pause_seconds_bucket{generation="2",le="+Inf"} 1.0' in text
    assert 'frisk_gc_pause_seconds_count{generation="0"} 0.0' in text
    frozen = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }["frisk_gc_frozen_objects"]
    assert frozen == float(gc.get_freeze_count())


def test_shared_pauses_go_to_the_histogram_that_the_group_exports() -> None:
    """Under several workers the pauses are moved into a (multiprocess) histogram, not exported
    from this collector, which would report the answering worker alone."""
    registry = CollectorRegistry()
    pauses = GcPauses(freeze=False, shared=True, flush_seconds=3600)
    registry.register(pauses)
    assert pauses.histogram is not None
    exported = CollectorRegistry()
    exported.register(pauses.histogram)
    pauses.install()
    try:
        gc.collect()
        gc.collect()
    finally:
        pauses.remove()  # flushes what is queued
    assert generate_latest(registry) == b""
    counts = {
        sample.labels["generation"]: sample.value
        for family in text_string_to_metric_families(generate_latest(exported).decode())
        for sample in family.samples
        if sample.name == "frisk_gc_pause_seconds_count"
    }
    assert counts["2"] == 2
    assert counts["1"] == 0
    assert counts["0"] == sum(pauses.counts[0])


def test_the_frozen_count_is_counted_again_only_after_a_freeze(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gc.get_freeze_count() walks every frozen object (tens of ms for millions of them): the
    gauge keeps its count until this collector froze more, and then at most once a minute."""
    pauses = GcPauses(freeze=False)
    counted = pauses.frozen_objects()
    assert counted == gc.get_freeze_count()
    survivors = [[i] for i in range(1_000)]
    gc.freeze()  # frozen by someone else: not this collector's freeze, not counted
    assert pauses.frozen_objects() == counted
    pauses.freezes += 1  # as the callback does after a full collection it froze
    assert pauses.frozen_objects() == counted  # within the minute
    monkeypatch.setattr(gc_pauses, "RECOUNT_SECONDS", 0.0)
    assert pauses.frozen_objects() == gc.get_freeze_count() >= counted + len(survivors)


def test_the_young_threshold_is_set_while_installed_and_given_back() -> None:
    before = gc.get_threshold()
    pauses = GcPauses(freeze=False, young_threshold=12_345).install()
    try:
        assert gc.get_threshold() == (12_345, *before[1:])
    finally:
        pauses.remove()
    assert gc.get_threshold() == before
    unchanged = GcPauses(freeze=False).install()
    try:
        assert gc.get_threshold() == before
    finally:
        unchanged.remove()
