"""The access log's direct write is the line logging would have written, and steps aside for
any other set-up."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from frisk.service.logs import AccessLog, JsonFormatter

FIELDS = {"request_id": "r-1", "method": "POST", "route": "/v1/score", "status": 200,
          "latency_ms": 1.234, "key": None}  # fmt: skip


@contextmanager
def json_logger() -> Iterator[logging.Logger]:
    """A logger set up as ``configure_logging`` sets up "frisk", its lines in a string. Made in
    the test itself: pytest attaches its capture handlers to loggers for the test's call."""
    logger = logging.getLogger("access-log-test")
    saved = logger.handlers[:], logger.level, logger.propagate
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def lines(logger: logging.Logger) -> list[dict[str, object]]:
    stream = logger.handlers[0].stream  # type: ignore[attr-defined]
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_direct_line_is_the_one_logging_writes() -> None:
    with json_logger() as parent:
        the_same_line(parent)


def the_same_line(parent: logging.Logger) -> None:
    child = logging.getLogger("access-log-test.access")
    access = AccessLog(child)
    assert access._only_handler() is parent.handlers[0]
    access.info("request", FIELDS)
    child.info("request", extra={"fields": FIELDS})  # through LogRecord and the handler
    direct, logged = lines(parent)
    assert list(direct) == list(logged)  # the same keys in the same order
    assert {**direct, "at": None} == {**logged, "at": None}
    assert len(str(direct["at"])) == len(str(logged["at"]))  # 2026-12-06T23:31:02.123+00:00


def test_any_other_set_up_goes_through_logging() -> None:
    with json_logger() as parent:
        through_logging(parent)


def through_logging(parent: logging.Logger) -> None:
    child = logging.getLogger("access-log-test.other")
    seen: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = seen.append  # type: ignore[method-assign]
    child.addHandler(capture)  # a second handler: both must get a record
    try:
        AccessLog(child).info("request", FIELDS)
    finally:
        child.removeHandler(capture)
    assert [r.getMessage() for r in seen] == ["request"]
    assert len(lines(parent)) == 1
    child.addFilter(lambda record: False)  # a filter decides: nothing is written
    try:
        AccessLog(child).info("request", FIELDS)
    finally:
        child.filters.clear()
    assert len(lines(parent)) == 1
    parent.setLevel(logging.WARNING)  # below its level: nothing
    AccessLog(child).info("request", FIELDS)
    assert len(lines(parent)) == 1
