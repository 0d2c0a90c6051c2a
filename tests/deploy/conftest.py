"""Fixtures for the deployment tests: tools that must be installed, free ports, the image.

The tools come from `make deploy-tools` (deploy/local/deploy-tools.sh) and `make install` (the
deploy-check extra). A missing one skips its tests with the reason, except under ``CI=true``,
where it fails them: CI must not go green by skipping what it was meant to test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKER = "/usr/bin/docker"  # Debian's client: it matches the daemon and has BuildKit built in


def require_tool(name: str, path: str | None = None) -> str:
    """The tool's path; skip (CI=true: fail) with how to install it when it is missing."""
    found = path if path is not None and os.access(path, os.X_OK) else shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed (`make deploy-tools` / `make install` installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true, so a missing tool is a failure")
    pytest.skip(reason)


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def answers(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it does not stop; the process is one this test started."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass(frozen=True)
class Image:
    docker: str
    tag: str
    id: str
    build_seconds: float


@pytest.fixture(scope="session")
def docker() -> str:
    """Debian's docker client, with a daemon that answers (deploy/local/docker.sh starts one)."""
    client = require_tool("docker", DOCKER)
    if subprocess.run([client, "info"], capture_output=True, check=False).returncode != 0:
        reason = "no Docker daemon answers (`make deploy-tools` starts one)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true, so a missing engine is a failure")
        pytest.skip(reason)
    return client


@pytest.fixture(scope="session")
def frisk_image(docker: str) -> Image:
    """frisk:latest built by `make image` once per test run (cheap when nothing changed)."""
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(DEPLOY / "local" / "image.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    assert done.returncode == 0, f"make image failed:\n{done.stderr[-4000:]}"
    image_id = done.stdout.strip().splitlines()[-1]
    return Image(docker, "frisk:latest", image_id, time.monotonic() - started)
