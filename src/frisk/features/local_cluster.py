"""A Redis Cluster of this process's own, for tests and benchmarks of the Redis state store.

``local_cluster`` starts three (or more) ``redis-server --cluster-enabled yes`` nodes on free
127.0.0.1 ports, joins them with ``redis-cli --cluster create`` and waits for
``cluster_state:ok``; on exit it stops the nodes it started, by their PIDs. No persistence.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["free_port", "local_cluster"]

#: a cluster node also listens on its port + 10,000 (the cluster bus)
BUS_OFFSET = 10_000


def free_port(*, bus: bool = False) -> int:
    """A free 127.0.0.1 port (with ``bus``, one whose cluster bus port is free too)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not bus:
            return port
        if port + BUS_OFFSET > 65_535:
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@contextmanager
def local_cluster(server: str, cli: str, root: Path, primaries: int = 3) -> Iterator[list[int]]:
    """A cluster of ``primaries`` nodes (``server``, ``cli``: the redis-server and redis-cli
    executables; ``root``: their working directory); its ports, the nodes stopped on exit."""
    ports = [free_port(bus=True) for _ in range(primaries)]
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            nodes.append(
                subprocess.Popen(
                    [
                        *(server, "--port", str(port), "--bind", "127.0.0.1"),
                        *(
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            f"nodes-{port}.conf",
                        ),
                        *("--dir", str(root), "--save", "", "--appendonly", "no"),
                        *("--protected-mode", "yes"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _await(cli, port, ("ping",), lambda reply: reply == "PONG")
        subprocess.run(
            [
                *(cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)),
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _await(cli, port, ("cluster", "info"), lambda reply: "cluster_state:ok" in reply)
        yield ports
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=30)


def _await(cli: str, port: int, command: tuple[str, ...], ready: Callable[[str], bool]) -> None:
    """Wait until the node on ``port`` answers ``command`` as ``ready`` wants (30 s at most)."""
    deadline = time.monotonic() + 30.0
    while not ready(_reply(cli, port, command)):
        if time.monotonic() > deadline:
            raise RuntimeError("Redis Cluster node not ready in time")
        time.sleep(0.1)


def _reply(cli: str, port: int, command: tuple[str, ...]) -> str:
    done = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *command],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.stdout.strip()
