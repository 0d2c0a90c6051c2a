"""Redis clients of the shared state: a thread that finds every connection in use waits for one
(within the request timeout) instead of failing at once."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable

from frisk.features.stores.redis_client import open_client

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_more_threads_than_connections_wait_for_one(
    require_service: Callable[[str, str, int], None],
) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = open_client(REDIS_URL, cluster=False, connect_timeout=1.0, timeout=5.0, pool_size=2)
    key = f"frisk-test-pool-{uuid.uuid4().hex[:8]}"
    failures: list[BaseException] = []
    done: list[int] = []

    def hold(i: int) -> None:
        try:
            # each holds its connection ~50 ms, server side: eight threads, two connections
            client.blpop([key], timeout=0.05)
            done.append(i)
        except BaseException as exc:  # reported in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert failures == []
    assert sorted(done) == list(range(8))
