"""The real stack for browser tests: `frisk serve` with a small model, the dashboard, Chromium.

The API and the dashboard run as subprocesses on free ports, once per session. Chromium is
Debian's (``/usr/bin/chromium``, or ``FRISK_CHROMIUM``), driven by Playwright, which downloads
nothing. Without it the tests skip with the reason, except under ``CI=true``, where they fail.
Screenshots go to ``FRISK_UI_ARTIFACTS`` when set, else to a directory under pytest's tmp.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from frisk.dashboard.launch import wait_until_up
from frisk.data.simulator import SimulationConfig, simulate
from frisk.models.pipeline import train_events
from frisk.models.registry import Registry
from frisk.service.keys import create_key
from frisk.store import Role, default_url, open_ledger

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = Path(os.environ.get("FRISK_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Stack:
    api: str  # the API's base URL
    dashboard: str  # the dashboard's base URL
    keys: dict[str, str]  # role -> key
    home: Path  # FRISK_HOME of the API

    def http(self, role: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.api, headers={"X-API-Key": self.keys[role]}, timeout=10)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (install it with `make browser`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true, so a missing browser is a failure")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("FRISK_UI_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def screenshot(artifacts: Path) -> Callable[[Any, str], Path]:
    """``screenshot(page, name)``: the whole page as ``name``.png in the artifacts directory."""
    return lambda page, name: full_page_shot(page, artifacts / f"{name}.png")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("ui-home")
    table = simulate(SimulationConfig(days=10, payers=300, seed=5, fraud_rate=0.03))
    registry = Registry(home / "models")
    registry.promote(registry.register(train_events(table)))
    time.sleep(1.01)  # version ids carry the second they were registered
    other = simulate(SimulationConfig(days=10, payers=300, seed=6, fraud_rate=0.03))
    registry.register(train_events(other))  # a candidate for the Models page to promote
    ledger = open_ledger(default_url(home))
    try:
        keys = {role.value: create_key(ledger, role, role.value, actor="test")[0] for role in Role}
    finally:
        ledger.close()
    api_port, ui_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "FRISK_HOME": str(home),
        "FRISK_SECURITY__RATE_LIMIT__ENABLED": "false",
        # Reasons for every decision, not only alerts: a small model alerts on few payments.
        "FRISK_SERVICE__EXPLAIN": "all",
    }
    env.pop("FRISK_API_KEY", None)  # the tests log in through the form
    frisk = str(Path(sys.executable).parent / "frisk")
    processes: list[subprocess.Popen[bytes]] = []
    with (home / "serve.log").open("ab") as api_log, (home / "ui.log").open("ab") as ui_log:
        try:
            processes.append(
                subprocess.Popen(
                    [frisk, "serve", "--registry", str(registry.root), "--port", str(api_port)],
                    env=env,
                    stdout=api_log,
                    stderr=subprocess.STDOUT,
                )
            )
            api = f"http://127.0.0.1:{api_port}"
            wait_until_up(f"{api}/health", processes[0], 90, what="the API")
            processes.append(
                subprocess.Popen(
                    [frisk, "dashboard", "--api", api, "--port", str(ui_port)],
                    env=env,
                    stdout=ui_log,
                    stderr=subprocess.STDOUT,
                )
            )
            dashboard = f"http://127.0.0.1:{ui_port}"
            wait_until_up(f"{dashboard}/_stcore/health", processes[1], 90)
            yield Stack(api, dashboard, keys, home)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


# The README's `make demo`, small: what a newcomer's dashboard shows, in a few seconds of work.
DEMO_SMALL = ("--days", "14", "--payers", "300", "--replay-days", "3", "--fraud-rate", "0.03")


@dataclass(frozen=True)
class Demo:
    api: str
    dashboard: str
    key: str  # the demo's admin key, as it printed it
    home: Path
    output: str  # what it printed up to its "running" line

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, headers={"X-API-Key": self.key}, timeout=30)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`frisk demo` (small) as a newcomer runs it, until it says it is running; then SIGTERM,
    on which it stops the API and the dashboard as on Ctrl-C (SIGINT may be ignored in a
    process started in the background, which a test worker can be)."""
    home = tmp_path_factory.mktemp("demo-home")
    api_port, ui_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("FRISK_API_KEY", "FRISK_HOME")}
    frisk = str(Path(sys.executable).parent / "frisk")
    command = [frisk, "demo", *DEMO_SMALL, "--home", str(home)]
    command += ["--api-port", str(api_port), "--dashboard-port", str(ui_port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while not any(line.startswith("running;") for line in output):
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                pytest.fail("frisk demo exited before it was running:\n" + "".join(output))
            output.append(line)
        text = "".join(output)
        key = next(line.split()[2] for line in output if "demo key" in line)
        yield Demo(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}", key, home, text)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in this thread
# while it is open, and later tests in the same worker that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # a run of a page on two busy cores takes seconds

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


@dataclass
class Ui:
    """The steps every browser test takes, on one page of one browser context."""

    page: Any
    stack: Stack
    artifacts: Path

    def login(self, role: str = "admin", api: str | None = None) -> None:
        """Open the dashboard and log in through its form."""
        from playwright.sync_api import expect

        self.page.goto(self.stack.dashboard)
        self.page.get_by_label("API URL").fill(api or self.stack.api)
        self.page.get_by_label("API key").fill(self.stack.keys[role])
        self.page.get_by_role("button", name="Log in").click()
        if api is None:
            expect(self.page.get_by_text(f"API: {self.stack.api}")).to_be_visible()

    def open(self, title: str) -> None:
        """Follow a sidebar link (a full reload would start a new session, logged out)."""
        self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
        self.settle()

    def settle(self) -> None:
        settle(self.page)

    def shot(self, name: str) -> Path:
        """A screenshot of the whole page, named ``name``, in the artifacts directory."""
        return full_page_shot(self.page, self.artifacts / f"{name}.png")


def settle(page: Any) -> None:
    """Wait until the app has finished its current run (the running indicator is gone)."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=TIMEOUT_MS)
    # Until the previous run's elements are gone too: Streamlit keeps them, marked stale,
    # while a rerun renders, and a locator could match both the old and the new element.
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')", timeout=TIMEOUT_MS
    )


def full_page_shot(page: Any, path: Path) -> Path:
    """A screenshot of the whole page (Streamlit scrolls inside its main block, so the
    viewport is stretched to the content's height first)."""
    settle(page)
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(document.querySelector('[data-testid=stMain]')?.scrollHeight ?? 0,"
        " document.body.scrollHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": max(height + 60, 600)})
    settle(page)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


@pytest.fixture
def ui(request: pytest.FixtureRequest, page: Any, stack: Stack, artifacts: Path) -> Iterator[Ui]:
    yield Ui(page, stack, artifacts)
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:  # what the browser showed, for the failure report
        page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"), full_page=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
