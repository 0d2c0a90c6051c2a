"""Rules & lists: rules with hits, editing with inline syntax errors, backtests, lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from frisk.client import ApiError, FriskClient
from frisk.dashboard import charts
from frisk.dashboard.session import api_section, show_error

__all__ = ["render"]

ACTIONS = ("block", "review", "allow", "tag")
MODES = ("shadow", "active")
_NEW = "(new rule)"


def render(client: FriskClient) -> None:
    st.title("Rules & lists")
    rules_tab, lists_tab, audit_tab = st.tabs(["Rules", "Lists", "Audit"])
    with rules_tab, api_section("reading rules"):
        _rules(client)
    with lists_tab, api_section("reading lists"):
        _lists(client)
    with audit_tab, api_section("reading the audit log"):
        items = client.audit(limit=100).get("items") or []
        if items:
            st.dataframe(items, hide_index=True, key="audit")
        else:
            st.info("No changes audited yet.")


# -- rules -----------------------------------------------------------------------------------


def _rules(client: FriskClient) -> None:
    book = client.rules()
    rules: list[dict[str, Any]] = book.get("rules") or []
    st.caption(f"rule set version {book.get('version')} · hits since the API started")
    if rules:
        st.dataframe(
            [
                {k: r.get(k) for k in ("name", "mode", "action", "priority", "hits", "expression")}
                for r in rules
            ],
            hide_index=True,
            key="rules_table",
        )
    else:
        st.info("No rules yet: write the first one below.")
    names = [_NEW, *(r["name"] for r in rules)]
    if st.session_state.get("rules.show") in names:  # the rule just saved
        st.session_state["rules.chosen"] = st.session_state.pop("rules.show")
    chosen = st.selectbox("Edit", names, key="rules.chosen")
    rule = next((r for r in rules if r["name"] == chosen), None)
    _editor(client, rule)


def _editor(client: FriskClient, rule: dict[str, Any] | None) -> None:
    key = rule["name"] if rule else _NEW
    defaults = rule or {
        "name": "",
        "expression": "",
        "action": "review",
        "priority": 100,
        "mode": "shadow",
        "description": "",
    }
    name = st.text_input("Name", value=defaults["name"], disabled=rule is not None, key=f"n-{key}")
    expression = st.text_area(
        "Expression (CEL)",
        value=defaults["expression"],
        key=f"e-{key}",
        placeholder="amount > 5000 && first_time_by_payer_payee == 1",
    )
    valid = _check(client, expression)
    a, b, c = st.columns(3)
    action = a.selectbox("Action", ACTIONS, index=ACTIONS.index(defaults["action"]), key=f"a-{key}")
    priority = b.number_input("Priority", value=int(defaults["priority"]), step=1, key=f"p-{key}")
    mode = c.selectbox("Mode", MODES, index=MODES.index(defaults["mode"]), key=f"m-{key}")
    description = st.text_input("Description", value=defaults["description"], key=f"d-{key}")
    body = {
        "name": name.strip(),
        "expression": expression,
        "action": action,
        "priority": int(priority),
        "mode": mode,
        "description": description,
    }
    save, switch, delete = st.columns(3)
    try:
        if save.button("Save", type="primary", disabled=not (valid and body["name"])):
            client.put_rule(body["name"], _stored(body))
            st.session_state["rules.show"] = body["name"]
            st.rerun()
        if rule is not None:
            other = "active" if rule["mode"] == "shadow" else "shadow"
            if switch.button("Activate" if other == "active" else "Switch to shadow"):
                client.put_rule(rule["name"], {**_stored(rule), "mode": other})
                st.rerun()
            if delete.button("Delete"):
                client.delete_rule(rule["name"])
                st.rerun()
    except ApiError as exc:
        show_error(exc, "saving the rule")
    if valid:
        _backtest(client, body)


def _check(client: FriskClient, expression: str) -> bool:
    """Validate as the analyst types; a syntax error is shown under the box with a caret."""
    if not expression.strip():
        return False
    got = client.validate_rule(expression)
    if got.get("valid"):
        st.caption(":green[valid]")
        return True
    error = got.get("error") or {}
    line, column = error.get("line"), error.get("column")
    st.error(f"line {line}, column {column}: {error.get('message')}", icon=":material/error:")
    if isinstance(line, int) and isinstance(column, int):
        lines = expression.splitlines() or [""]
        text = lines[min(max(line, 1), len(lines)) - 1]
        st.code(f"{text}\n{' ' * max(column - 1, 0)}^", language=None)
    return False


def _backtest(client: FriskClient, rule: dict[str, Any]) -> None:
    st.subheader("Backtest")
    today = datetime.now(UTC).date()
    period = st.date_input(
        "Period (UTC days, both included)",
        value=(today - timedelta(days=30), today),
        key="rules.period",
        format="YYYY-MM-DD",
    )
    start, last = period if isinstance(period, tuple) and len(period) == 2 else (None, None)
    end = last + timedelta(days=1) if last else None  # the API's end is exclusive
    if not st.button("Run backtest", key="rules.backtest"):
        return
    with api_section("backtesting"):
        got = client.backtest(
            {k: rule[k] for k in ("expression", "action", "priority") if k in rule}
            | ({"name": rule["name"]} if rule.get("name") else {}),
            start.isoformat() if start else None,
            end.isoformat() if end else None,
        )
        days, totals = got.get("days") or [], got.get("totals") or {}
        cols = st.columns(5)
        cols[0].metric("Transactions", f"{totals.get('transactions', 0):,}")
        cols[1].metric("Hits", f"{totals.get('hits', 0):,}")
        cols[2].metric("Fraudulent hits", f"{totals.get('fraud_hits', 0):,}")
        precision = totals.get("precision")
        cols[3].metric("Precision", "-" if precision is None else f"{precision:.1%}")
        caught, total = totals.get("fraud_amount_caught") or 0, totals.get("fraud_amount_total")
        cols[4].metric("Fraud amount caught", f"{caught:,.0f}")
        st.caption(
            (
                f"{caught / total:.1%} of the {total:,.0f} fraud amount in the period; "
                if total
                else ""
            )
            + f"beyond the current policy: {totals.get('added_hits', 0):,} hits, "
            f"{totals.get('added_fraud', 0):,} fraudulent, "
            f"{totals.get('added_fraud_amount', 0) or 0:,.0f} fraud amount"
        )
        if days:
            st.plotly_chart(charts.backtest_chart(days), key="backtest_chart")
        else:
            st.info("No decisions in this period.")


def _stored(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as PUT /v1/rules/{name} takes it (the name is the path's)."""
    fields = ("expression", "action", "priority", "mode", "description")
    return {k: rule[k] for k in fields if k in rule}


# -- lists -----------------------------------------------------------------------------------


def _lists(client: FriskClient) -> None:
    got = client.lists()
    lists: list[dict[str, Any]] = got.get("lists") or []
    if lists:
        st.dataframe(lists, hide_index=True, key="lists_table")
    else:
        st.info("No lists yet.")
    with st.expander("New list"), st.form("new_list"):
        a, b, c = st.columns(3)
        name = a.text_input("List name")
        kind = b.selectbox("Kind", ("block", "allow"))
        field = c.text_input("Field (for a hard list, e.g. payer_id)")
        description = st.text_input("List description", key="list.description")
        if st.form_submit_button("Create"):
            body = {"name": name, "kind": kind, "description": description}
            if field.strip():
                body["field"] = field.strip()
            try:
                client.create_list(body)
                st.rerun()
            except ApiError as exc:
                show_error(exc, "creating the list")
    if not lists:
        return
    chosen = st.selectbox("List", [entry["name"] for entry in lists], key="lists.chosen")
    if chosen:
        _entries(client, str(chosen))


def _entries(client: FriskClient, name: str) -> None:
    got = client.list_entries(name, limit=200)
    entries: list[dict[str, Any]] = got.get("entries") or []
    st.dataframe(entries, hide_index=True, key=f"entries-{name}")
    with st.form(f"add-{name}"):
        a, b = st.columns(2)
        value = a.text_input("Value")
        note = b.text_input("Note")
        add = st.form_submit_button("Add entry")
    try:
        if add and value.strip():
            client.add_list_entries(name, [{"value": value.strip(), "note": note.strip()}])
            st.rerun()
        if entries:
            values = [str(e.get("value")) for e in entries]
            drop = st.selectbox("Entry", values, key=f"drop-{name}")
            if st.button("Remove entry", key=f"remove-{name}") and drop:
                client.delete_list_entry(name, str(drop))
                st.rerun()
    except ApiError as exc:
        show_error(exc, f"changing list {name}")
