"""The fault proxy in front of Redis: the feature state store fails fast and comes back.

The same ``FaultProxy`` as the PostgreSQL suite (it knows no protocol). A Redis that refuses
connections, hangs or cuts an answer makes the online executor raise ``StateUnavailable`` (a 503
in the service) within the store's timeouts instead of waiting; healed, the store answers again
without a new client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from frisk.errors import StateUnavailable
from frisk.features import OnlineFeatures, resolve_catalogue
from frisk.features.testing import random_events

pytestmark = pytest.mark.integration

BOUND = 10.0  # seconds: the store's timeouts (0.5 s) and slack; past it the test fails


@pytest.fixture
def online(
    require_service: Callable[[str, str, int], None],
    fault_proxy: Callable[[str, int], Any],
) -> Iterator[tuple[OnlineFeatures, Any, list[dict[str, Any]]]]:
    from frisk.features.stores.redis import RedisStore

    require_service("Redis", "127.0.0.1", 6379)
    proxy = fault_proxy("127.0.0.1", 6379)
    store = RedisStore.connect(
        f"redis://127.0.0.1:{proxy.port}/0",
        key_prefix=f"frisk-test-faults-{uuid.uuid4().hex[:10]}",
        connect_timeout=0.5,
        timeout=0.5,
    )
    table = random_events(11, 60)
    executor = OnlineFeatures(resolve_catalogue("default", table), store)
    executor.warm(table.head(20), freeze_gc=False)
    yield executor, proxy, list(table.tail(40).iter_rows(named=True))
    proxy.heal()
    store.clear()
    store.close()


def _bounded(fn: Callable[[], Any]) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=BOUND)


@pytest.mark.parametrize("fault", ["refuse", "hang", "cut"])
def test_a_failing_redis_is_state_unavailable_in_time_then_recovers(
    online: tuple[OnlineFeatures, Any, list[dict[str, Any]]], fault: str
) -> None:
    executor, proxy, events = online
    _bounded(lambda: executor.update(events[0]))
    getattr(proxy, fault)()
    with pytest.raises(StateUnavailable):
        _bounded(lambda: [executor.update(event) for event in events[1:4]])
    proxy.heal()

    def answers() -> bool:
        for _ in range(50):
            try:
                executor.store.client.ping()  # type: ignore[attr-defined]
                return True
            except Exception:
                continue
        return False

    assert _bounded(answers)
