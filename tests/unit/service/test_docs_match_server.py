"""The documents say what the server does: the routes-and-roles table of docs/API.md, the
statements of docs/OPERATIONS.md and README.md about keys, roles and health checks.

The table is read from docs/API.md and every route of the app is probed with no key and with a
key of each role: who gets through (anything but 401/403) must be exactly who the table names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

ROOT = Path(__file__).resolve().parents[3]
API_MD = ROOT / "docs" / "API.md"
OPERATIONS_MD = ROOT / "docs" / "OPERATIONS.md"
README = ROOT / "README.md"
ROLES = ("scorer", "analyst", "admin")
Keys = dict[str, dict[str, str]]


def documented_routes() -> dict[tuple[str, str], frozenset[str]]:
    """(method, path) -> who may call it ("none" = no key needed) from docs/API.md's table."""
    text = API_MD.read_text()
    section = text.split("## Routes and roles", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str], frozenset[str]] = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE)(, \w+)*", cells[0]):
            continue
        who = frozenset(w.strip() for w in cells[2].replace("no key", "none").split(","))
        for method in cells[0].split(", "):
            rows[(method, cells[1])] = who
    return rows


def served_routes(client: TestClient) -> set[tuple[str, str]]:
    app = client.app
    routes: set[tuple[str, str]] = set()

    def walk(items: list[object]) -> None:
        for route in items:
            inner = getattr(route, "routes", None)  # an included router
            if isinstance(route, APIRoute):
                routes.update((m, route.path) for m in route.methods or () if m != "HEAD")
            elif inner is not None and not isinstance(route, Mount):
                walk(list(inner))

    walk(list(app.router.routes))  # type: ignore[attr-defined]
    paths = app.openapi()["paths"]  # type: ignore[attr-defined]
    routes.update((m.upper(), p) for p, ops in paths.items() for m in ops)
    routes.add(("GET", "/openapi.json"))
    return routes


def who_gets_through(client: TestClient, keys: Keys, method: str, path: str) -> frozenset[str]:
    url = re.sub(r"\{[^}]+\}", "no-such-id", path)
    through = set()
    for who, headers in [("none", {}), *((role, keys[role]) for role in ROLES)]:
        status = client.request(method, url, headers=headers).status_code
        if status not in (401, 403):
            through.add(who)
    if "none" in through:
        return frozenset({"none"})
    return frozenset(through)


def test_every_route_is_in_the_table_and_the_table_is_what_the_server_does(
    client: TestClient, keys: Keys
) -> None:
    documented = documented_routes()
    served = served_routes(client)
    assert set(documented) == served, "docs/API.md's routes-and-roles table vs the app's routes"
    wrong = {
        route: (sorted(who), sorted(who_gets_through(client, keys, *route)))
        for route, who in sorted(documented.items())
        if who != who_gets_through(client, keys, *route)
    }
    assert wrong == {}, "route: (documented, served)"


def test_operations_names_the_routes_that_need_no_key(client: TestClient, keys: Keys) -> None:
    text = " ".join(OPERATIONS_MD.read_text().split())
    public = sorted(p for (m, p), who in documented_routes().items() if who == {"none"})
    sentence = re.search(r"need no key: (.+?)\.\s", text)
    assert sentence is not None, "OPERATIONS.md says which routes need no key"
    named = sorted(re.findall(r"`(?:GET )?(/[^`]*)`", sentence.group(1)))
    assert named == sorted(p for p in public if not p.startswith("/docs/")), named


def test_operations_role_list_matches_the_table() -> None:
    """Each role's bullet in OPERATIONS.md names what that role may do in the table's terms."""
    text = OPERATIONS_MD.read_text()
    documented = documented_routes()
    for role in ROLES:
        bullet = re.search(rf"^- `{role}`: (.+?)(?=^- `|^\S|\Z)", text, re.M | re.S)
        assert bullet is not None, role
        for route in re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /[^`]+)`", bullet.group(1)):
            method, path = route.split(" ", 1)
            assert role in documented[(method, path)], (role, route)


def test_metrics_role_as_documented() -> None:
    text = " ".join(OPERATIONS_MD.read_text().split())
    who = documented_routes()[("GET", "/metrics")]
    assert who == {"analyst", "admin"}
    assert "`GET /metrics` (analyst or admin key)" in text


@pytest.mark.parametrize("doc", [README, API_MD, OPERATIONS_MD], ids=lambda p: p.name)
def test_no_document_orders_the_roles(doc: Path) -> None:
    """The roles are not a ladder: an analyst may not score, a scorer may not read."""
    assert not re.search(r"scorer\s*<\s*analyst", doc.read_text())


def test_ready_needs_no_key_and_tells_nothing_more(client: TestClient) -> None:
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"ready": True, "engine": True, "ledger": True}
    assert "load balancer" in OPERATIONS_MD.read_text()
