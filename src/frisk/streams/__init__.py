"""``frisk consume``: payments and labels from NATS JetStream or Redis Streams, decided once.

``consumer.Consumer`` is the loop (its docstring states the delivery guarantees); ``broker``
the plug-in point, with ``redis`` and ``nats`` behind it; ``messages`` what travels;
``metrics`` what Prometheus sees. ``consume`` wires them to the decision core the HTTP service
uses (``frisk.engine.runtime.build_decider``): nothing here imports the web service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from frisk.config import ConsumerSettings, Settings
from frisk.errors import ConfigError
from frisk.streams.broker import Broker, BrokerError
from frisk.streams.consumer import Consumer, Streams
from frisk.streams.messages import Delivery, MessageMapping
from frisk.streams.metrics import ConsumerMetrics

__all__ = [
    "Broker",
    "BrokerError",
    "Consumer",
    "ConsumerMetrics",
    "Delivery",
    "MessageMapping",
    "Streams",
    "consume",
    "member_name",
    "open_broker",
    "streams_of",
]

log = logging.getLogger("frisk.streams")


def open_broker(url: str, settings: ConsumerSettings, name: str) -> Broker:
    """The broker at ``url`` (``redis://``, ``rediss://`` or ``nats://``), as member ``name``."""
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis", "rediss"):
        from frisk.streams.redis import RedisStreams

        return RedisStreams(url, settings, name)
    if scheme in ("nats", "tls"):
        from frisk.streams.nats import NatsJetStream

        return NatsJetStream(url, settings, name)
    raise ConfigError(
        f"consumer.broker {url!r}: give redis://HOST:PORT/DB (Redis Streams) or "
        "nats://HOST:PORT (NATS JetStream)"
    )


def streams_of(settings: Settings) -> Streams:
    """The stream names ``settings.consumer`` gives; ``ConfigError`` naming a missing one."""
    cfg = settings.consumer
    for name in ("broker", "input", "output"):
        if not getattr(cfg, name):
            raise ConfigError(f"consumer.{name} is not set (frisk consume --{name})")
    return Streams(
        input=cfg.input,
        output=cfg.output,
        dead_letters=cfg.dead_letters or f"{cfg.input}.dead",
        labels=cfg.labels or None,
    )


def member_name(settings: Settings) -> str:
    return settings.consumer.name or f"{socket.gethostname()}-{os.getpid()}"


def consume(
    settings: Settings,
    model_dir: Path | None,
    registry_dir: Path | None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a consumer until ``stop`` is set (or SIGTERM/SIGINT, when ``stop`` is None)."""
    from frisk.data.mapping import Mapping
    from frisk.engine import load_engine
    from frisk.engine.decider import Decider
    from frisk.engine.runtime import build_decider
    from frisk.store import default_url, open_ledger
    from frisk.store.postgres import timeouts_of

    streams = streams_of(settings)
    cfg = settings.consumer
    name = member_name(settings)
    mapping = None if cfg.mapping is None else MessageMapping(Mapping.load(cfg.mapping))
    metrics = ConsumerMetrics()
    ledger = open_ledger(
        settings.database_url or default_url(settings.home), timeouts=timeouts_of(settings.store)
    )
    try:
        engine = load_engine(
            model_dir,
            None if model_dir is not None else registry_dir or settings.registry_dir,
            ledger=ledger,
            settings=settings,
        )
        try:
            runtime = build_decider(
                settings, ledger, engine, Decider, registry=metrics.registry, follow_models=True
            ).start()
            try:
                consumer = Consumer(
                    open_broker(cfg.broker, cfg, name),
                    runtime.decider,
                    streams,
                    batch=cfg.batch,
                    wait_seconds=cfg.wait_seconds,
                    retry_seconds=cfg.retry_seconds,
                    mapping=mapping,
                    metrics=metrics,
                    actor=f"consumer:{name}",
                )
                stop_metrics = metrics.serve(cfg.metrics_port) if cfg.metrics_port else None
                log.info(
                    "consuming %s as %s of group %s; decisions to %s",
                    streams.input,
                    name,
                    cfg.group,
                    streams.output,
                )
                try:
                    asyncio.run(_run(consumer, stop))
                finally:
                    if stop_metrics is not None:
                        stop_metrics()
            finally:
                runtime.close()
        finally:
            engine.close()  # a last feature-state snapshot
    finally:
        ledger.close()


async def _run(consumer: Consumer, stop: asyncio.Event | None) -> None:
    if stop is None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)  # drain: finish the batch in hand, then stop
    await consumer.run(stop)
