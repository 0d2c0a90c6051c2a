"""Untrusted text stays text (issue #20, case 6): a case whose fields hold Markdown and HTML.

A payer or merchant controls ids, categories, devices and extra attributes. Opened on the
review page, such a case must show neither a link nor anything loaded from another host (a
tracking pixel): main rendered them through ``st.markdown`` as live links and remote images.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.ui.conftest import Ui

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.xdist_group("ui")]

CASE = "md-case-**bold**-[open](#x)"
PAYER = "[verify your account](https://evil.example/login)"
PAYEE = "![pixel](https://tracker.example/p.png)"


def _payment() -> dict[str, Any]:
    return {
        "transaction_id": CASE,
        "timestamp": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "amount": 9500.0,
        "currency": "EUR",
        "payer_id": PAYER,
        "payee_id": PAYEE,
        "device_id": '<img src="https://tracker.example/d.png">',
        "merchant_category": "[win](https://evil.example/w)",
        "channel": "card",
        "extra": {"entry_mode": "<a href='https://evil.example/e'>chip</a>"},
    }


def test_a_case_of_markdown_and_html_shows_no_link_and_loads_nothing_remote(ui: Ui) -> None:
    with ui.stack.http("admin") as http:
        rule = {"expression": "amount > 9400", "action": "review", "mode": "active"}
        assert http.put("/v1/rules/ui_untrusted", json=rule).status_code == 200
        decided = http.post("/v1/score", json=_payment())
        assert decided.status_code == 200, decided.text
        assert decided.json()["action"] == "review"

    elsewhere: list[str] = []

    def watch(request: Any) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in (
            "127.0.0.1",
            "localhost",
        ):
            elsewhere.append(request.url)

    page = ui.page
    page.on("request", watch)
    ui.login("analyst")
    ui.open("Review queue")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stDataFrame").first).to_be_visible()  # the queue
    main.get_by_test_id("stSelectbox").last.click()
    page.get_by_role("option", name=CASE, exact=True).click()
    ui.settle()
    expect(main.get_by_text(f"Case {CASE}")).to_be_visible()
    # Shown as the text it is (zero-width spaces keep Streamlit from linking bare URLs).
    shown = main.inner_text().replace("\u200b", "")
    assert PAYER in shown
    assert PAYEE in shown
    ui.shot("untrusted-text")

    links = main.locator("a[href]").evaluate_all("(links) => links.map((a) => a.href)")
    assert not [href for href in links if "evil.example" in href or href.endswith("#x")], links
    images = main.locator("img").evaluate_all("(imgs) => imgs.map((i) => i.src)")
    assert not [src for src in images if "tracker.example" in src], images
    assert main.locator("strong", has_text="bold").count() == 0
    assert not elsewhere, elsewhere
