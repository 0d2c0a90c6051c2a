"""The CLI and other processes change the ledger's policy; running services follow it.

Real services (uvicorn in a thread, a trained model) on SQLite and PostgreSQL. ``frisk lists`` and
``frisk rules`` run in this process but open the ledger on their own, as another process would:
a service sees their changes only through its poll of the policy versions.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.models import load_model
from frisk.models.registry import Registry
from frisk.policy import LivePolicy, Rule, rule_variables
from frisk.service.keys import log_id
from frisk.store import default_url, open_ledger

if TYPE_CHECKING:
    from tests.integration.conftest import Served, ServeModel

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("policy_cli")]

POLL = 0.3
# How long a change may take to reach decisions: the poll interval, plus room for two shared
# cores under a parallel test run. The loops below return as soon as the change is seen.
DEADLINE = POLL + 20.0
BLOCK_MULES = (
    "- {name: mule_payees, expression: 'payee_id in blocklist(\"mules\")', action: block}\n"
)


@pytest.fixture
def model_dir(policy_model_dir: Path) -> Path:
    return policy_model_dir


@pytest.fixture
def serve(serve_model: ServeModel) -> ServeModel:
    """``serve(url, name)``: a service on the ledger at ``url`` with its own home, polling."""
    return functools.partial(serve_model, policy={"poll_seconds": POLL})


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's own FRISK_HOME (no registry in it); the database is passed per command."""
    monkeypatch.setenv("FRISK_HOME", str(tmp_path / "cli-home"))
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRISK_CONFIG", raising=False)
    monkeypatch.delenv("FRISK_API_KEY", raising=False)
    return tmp_path / "cli-home"


def frisk(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


_ids = count()


def score(served: Served, http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {
        "transaction_id": f"t-{next(_ids)}",
        "timestamp": "2024-03-01T12:00:00+00:00",
        "amount": 20.0,
        "currency": "EUR",
        "payer_id": "payer-1",
        "payee_id": "payee-1",
        **fields,
    }
    answer = http.post("/v1/score", json=body, headers=served.keys["scorer"])
    assert answer.status_code == 200, answer.text
    decision: dict[str, Any] = answer.json()
    return decision


def until(check: Callable[[], Any], what: str) -> Any:
    """Ask ``check`` until it returns something truthy; fail after ``DEADLINE`` seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    pytest.fail(f"not within {DEADLINE} s: {what}")


def decided_by(served: Served, http: httpx.Client, payee: str) -> str:
    decision = score(served, http, payee_id=payee)
    by: str = decision["policy"]["decided_by"]
    if by == "mule_payees":
        assert decision["action"] == "block"
    return by


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def stale(served: Served, http: httpx.Client) -> bool:
    metrics = http.get("/metrics", headers=served.keys["analyst"])
    assert metrics.status_code == 200, metrics.text
    return "frisk_policy_stale 1.0" in metrics.text


def test_cli_changes_on_the_ledger_reach_the_running_service(
    serve: ServeModel,
    database_url: str,
    cli_env: Path,
    model_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="frisk.service")
    served = serve(database_url)
    on = ["--database", database_url]
    rules = tmp_path / "rules.yaml"
    rules.write_text(BLOCK_MULES)
    with served.client() as http:
        assert decided_by(served, http, "mule-1") == "model"
        assert frisk("lists", "create", "mules", *on)[0] == 0
        code, out = frisk("rules", "load", "--file", str(rules), "--model", str(model_dir), *on)
        assert code == 0, out
        assert decided_by(served, http, "mule-1") == "model"  # the list is empty

        assert frisk("lists", "add", "mules", "mule-1", *on)[0] == 0
        until(lambda: decided_by(served, http, "mule-1") == "mule_payees", "the entry blocks")
        assert decided_by(served, http, "someone-else") == "model"
        assert frisk("lists", "remove", "mules", "mule-1", *on)[0] == 0
        until(lambda: decided_by(served, http, "mule-1") == "model", "the removal applies")

        # Another instance, serving a model that reads a feature this one lacks, stores a rule
        # this service cannot compile: it keeps deciding with the policy it has, and says why.
        assert frisk("lists", "add", "mules", "mule-2", *on)[0] == 0
        until(lambda: decided_by(served, http, "mule-2") == "mule_payees", "the entry blocks")
        running = score(served, http)["policy"]
        other = open_ledger(database_url)
        try:
            elsewhere = LivePolicy(
                rule_variables(None, extras={"velocity_elsewhere": "number"}),
                other.rules,
                other.lists,
            )
            elsewhere.put_rule(
                Rule("elsewhere", "velocity_elsewhere > 1", "block"), actor="b", at=_now()
            )
            until(lambda: stale(served, http), "the service reports a policy it cannot use")
            after = score(served, http, payee_id="mule-2")
            assert (after["action"], after["policy"]["decided_by"]) == ("block", "mule_payees")
            assert after["policy"]["rules_version"] == running["rules_version"]
            assert not [m for m in after["policy"]["matched"] if m["rule"] == "elsewhere"]
            # "Once" can only be seen over time: let a few polls pass.
            time.sleep(4 * POLL)
            failures = errors(caplog)
            assert len(failures) == 1  # once, not at every poll
            assert "does not compile against this service's model" in failures[0]
            assert "unknown name 'velocity_elsewhere'" in failures[0]
            assert f"still deciding with rules version {running['rules_version']}" in failures[0]

            # A list change meanwhile is not applied either: the ledger's policy is one whole.
            assert frisk("lists", "add", "mules", "mule-3", *on)[0] == 0
            until(lambda: len(errors(caplog)) == 2, "the service retries the moved versions")
            assert decided_by(served, http, "mule-3") == "model"
            elsewhere.remove_rule("elsewhere", actor="b", at=_now())
        finally:
            other.close()
        until(lambda: decided_by(served, http, "mule-3") == "mule_payees", "the repaired policy")
        assert not stale(served, http)
        assert "the ledger's policy is in force again" in caplog.text


def test_a_change_through_one_instance_reaches_another(
    serve: ServeModel, database_url: str
) -> None:
    first, second = serve(database_url, "a"), serve(database_url, "b")
    rule = {"expression": "amount > 900", "action": "block"}
    with first.client() as one, second.client() as two:
        put = one.put("/v1/rules/big", json=rule, headers=first.keys["admin"])
        assert put.status_code == 200, put.text
        version = put.json()["version"]

        def blocked() -> bool:
            decision = score(second, two, amount=950.0)
            return bool(decision["policy"]["decided_by"] == "big")

        until(blocked, "the second instance applies the first one's rule")
        assert score(second, two, amount=950.0)["policy"]["rules_version"] == version
        assert score(second, two, amount=10.0)["policy"]["decided_by"] == "model"


def test_the_cli_through_a_running_service(
    serve: ServeModel,
    cli_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = serve(default_url(tmp_path / "ledger"))
    api = ["--api", served.url]
    admin = served.keys["admin"]["X-API-Key"]
    monkeypatch.setenv("FRISK_API_KEY", admin)
    assert frisk("lists", "create", "mules", *api)[0] == 0
    values = tmp_path / "mules.txt"
    values.write_text("q1\nq2\nq3\nq4\nq5\n")
    code, out = frisk("lists", "import", "mules", "--file", str(values), "--batch", "2", *api)
    assert code == 0, out
    assert "5 entries imported into mules" in out
    code, out = frisk("lists", "add", "mules", "q6", "--expires", "2099-01-01", *api)
    assert code == 0, out
    assert frisk("lists", "show", *api)[1].splitlines() == ["mules  block  6 entries"]
    code, out = frisk("lists", "show", "mules", *api)
    assert out.splitlines()[-1] == "q6  until 2099-01-01T00:00:00+00:00"
    code, out = frisk("lists", "remove", "mules", "q1", "zz", *api)
    assert code == 0, out
    assert "1 of 2" in out
    code, out = frisk("lists", "remove", "mules", "zz", *api)
    assert code != 0
    assert "holds none of zz" in out

    rules = tmp_path / "rules.yaml"
    rules.write_text(BLOCK_MULES)
    code, out = frisk("rules", "load", "--file", str(rules), *api)
    assert code == 0, out
    assert "rule.create rule:mule_payees" in out
    assert "rules version 1" in out
    code, out = frisk("lists", "drop", "mules", *api)
    assert code != 0
    assert "list 'mules' is read by a rule" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- {name: fine, expression: 'amount > 1', action: tag}\n"
        "- {name: types, expression: 'amount > \"1000\"', action: block}\n"
    )
    code, out = frisk("rules", "load", "--file", str(bad), *api)
    assert code != 0
    assert "rule 'types': cannot compare a number with a string" in out
    assert "nothing was changed" in out

    with served.client() as http:
        assert decided_by(served, http, "q2") == "mule_payees"
        twice = {"rules": [{"name": "a", "expression": "amount > 1", "action": "tag"}] * 2}
        refused = http.put("/v1/rules", json=twice, headers=served.keys["admin"])
        assert refused.status_code == 422
        assert "rule 'a' appears twice" in refused.json()["message"]
        assert http.put("/v1/rules", json=twice, headers=served.keys["analyst"]).status_code == 403
        log = http.get(
            "/v1/audit", params={"target": "list:mules"}, headers=served.keys["analyst"]
        ).json()
        rules_now = http.get("/v1/rules", headers=served.keys["analyst"]).json()
    assert [r["name"] for r in rules_now["rules"]] == ["mule_payees"]
    assert rules_now["version"] == 1
    # Three batches of the import, one add, one remove; each by the key, not a CLI user.
    actions = [e["action"] for e in log["items"]][::-1]
    assert actions == ["list.create", *["list.add"] * 4, "list.remove"]
    ledger = served.ledger
    key_id = next(k.key_id for k in ledger.list_api_keys() if k.name == "admin")
    assert {e["actor"] for e in log["items"]} == {log_id(key_id)}

    code, out = frisk("rules", "list", *api)
    assert code == 0, out
    assert "mule_payees  [active block, 1 hits]" in out
    code, out = frisk("rules", "show", "mule_payees", *api)
    assert 'expression: payee_id in blocklist("mules")' in out
    assert "1 hits since the service started" in out

    monkeypatch.setenv("FRISK_API_KEY", served.keys["analyst"]["X-API-Key"])
    code, out = frisk("lists", "add", "mules", "q7", *api)
    assert code != 0
    assert "the key in FRISK_API_KEY may not" in out
    monkeypatch.setenv("FRISK_API_KEY", "not-a-key")
    code, out = frisk("lists", "show", *api)
    assert code != 0
    assert "does not know the key" in out


def test_rules_compile_against_the_served_model(
    cli_env: Path, tmp_path: Path, model_dir: Path
) -> None:
    # The simulated data's model reads the extra attributes account_age_days and entry_mode.
    on = ["--database", default_url(tmp_path / "ledger")]
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {name: young, expression: 'account_age_days < 3', action: review}\n")
    code, out = frisk("rules", "load", "--file", str(rules), *on)
    assert code != 0
    assert "unknown name 'account_age_days'" in out
    assert "default feature catalogue" in out
    code, out = frisk("rules", "load", "--file", str(rules), "--model", str(model_dir), *on)
    assert code == 0, out
    # The registry under FRISK_HOME, as `frisk serve` would serve it, without naming it.
    registry = Registry(cli_env / "models")
    registry.promote(registry.register(load_model(model_dir)))
    rules.write_text("- {name: young, expression: 'account_age_days < 5', action: review}\n")
    code, out = frisk("rules", "load", "--file", str(rules), *on)
    assert code == 0, out
    assert "rule.update rule:young" in out


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_the_poll_stops_when_its_ledger_is_closed(tmp_path: Path) -> None:
    # A fixture or a shutdown may close the ledger before the app's lifespan ends: a poll after
    # that would open a connection that nothing closes.
    from frisk.service.policy import PolicyWatcher

    ledger = open_ledger(default_url(tmp_path))
    live = LivePolicy(rule_variables(), ledger.rules, ledger.lists)
    watcher = PolicyWatcher(live, ledger, 0.02).start()
    assert watcher._thread is not None
    assert watcher._thread.is_alive()
    ledger.close()
    watcher._thread.join(timeout=5)
    assert not watcher._thread.is_alive()
