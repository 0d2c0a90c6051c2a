"""Review queue: open cases by score, a case view with reasons and activity, resolve with a note.

Keyboard: Alt+Down / Alt+Up move to the next / previous case, Alt+F resolves as fraud, Alt+L as
legit, Alt+A assigns the case to you; the table and every control are reachable with Tab.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from frisk.client import ApiError, FriskClient
from frisk.dashboard import charts
from frisk.dashboard.session import api_section

__all__ = ["render"]

_STATUSES = ("open", "assigned", "resolved")
_TIERS = ("any", "low", "medium", "high", "critical")
_COLUMNS = ("transaction_id", "score", "tier", "amount", "currency", "payer_id", "age", "status")


def render(client: FriskClient) -> None:
    st.title("Review queue")
    filters = _filters()
    queue = client.reviews(**filters)
    items: list[dict[str, Any]] = queue.get("items") or []
    total = queue.get("total", len(items))
    # A case opened by its link (.../reviews?case=<id>) shows even when the filters hide it.
    linked = st.query_params.get("case") or None
    if not items:
        st.success("The queue is empty: no review matches these filters.", icon=":material/inbox:")
        if linked:
            _case(client, linked)
        return
    st.caption(f"{total:,} cases; showing the {len(items)} with the highest scores")
    ids = [item["transaction_id"] for item in items]
    table = st.dataframe(
        [_row(item) for item in items],
        hide_index=True,
        key="queue",
        on_select="rerun",
        selection_mode="single-row",
        column_order=(*_COLUMNS, "assignee"),
        column_config={"score": st.column_config.NumberColumn(format="%.3f")},
    )
    picked = table.selection.rows if table is not None else []
    current = linked or st.session_state.get("reviews.case")
    if picked:
        current = ids[picked[0]]
    options = ids if current in ids or current is None else [current, *ids]
    if current not in options:
        current = options[0]
    up, down, choose = st.columns([1.3, 1.3, 5])
    index = options.index(current)
    if up.button("Previous", shortcut="Alt+Up", disabled=index == 0):
        index -= 1
    if down.button("Next", shortcut="Alt+Down", disabled=index == len(options) - 1):
        index += 1
    current = choose.selectbox("Case", options, index=index, label_visibility="collapsed")
    st.session_state["reviews.case"] = current
    if current:
        st.query_params["case"] = current  # the address bar is this case's link
        _case(client, current)


def _filters() -> dict[str, Any]:
    with st.expander("Filters", expanded=False):
        a, b, c, d = st.columns(4)
        status = a.multiselect("Status", _STATUSES, default=["open", "assigned"])
        tier = b.selectbox("Tier", _TIERS)
        assignee = c.text_input("Assignee")
        min_age = d.number_input("Older than (minutes)", min_value=0, step=5)
        st.text_input("Your name (for assignments)", key="reviews.me")
    return {
        "status": ",".join(status) or None,
        "tier": None if tier == "any" else tier,
        "assignee": assignee.strip() or None,
        "min_age_seconds": int(min_age * 60) or None,
        "limit": 200,
    }


def _row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "transaction_id": item["transaction_id"],
        "score": item.get("score"),
        "tier": item.get("tier"),
        "amount": item.get("amount"),
        "currency": item.get("currency"),
        "payer_id": item.get("payer_id"),
        "age": _age(item.get("age_seconds")),
        "status": item.get("status"),
        "assignee": item.get("assignee") or "",
    }


def _case(client: FriskClient, transaction_id: str) -> None:
    case = client.review(transaction_id)
    review = case["review"]
    decision = case.get("decision") or {}
    st.subheader(f"Case {transaction_id}")
    cols = st.columns(5)
    cols[0].metric("Risk score", review.get("risk_score"))
    cols[1].metric("Tier", review.get("tier"))
    cols[2].metric(f"Amount ({review.get('currency') or '?'})", f"{review.get('amount') or 0:,.2f}")
    cols[3].metric("Status", review.get("status"))
    cols[4].metric("Age", _age(review.get("age_seconds")))
    st.caption(
        f"{review.get('payer_id')} → {review.get('payee_id')} at {review.get('event_time')}"
        + (f" · assigned to {review['assignee']}" if review.get("assignee") else "")
        + (f" · resolved {review['resolution']}" if review.get("resolution") else "")
    )
    _actions(client, review)
    why, read = st.columns([3, 2])
    reasons = decision.get("reasons") or []
    with why:
        if reasons:
            st.plotly_chart(charts.reasons_bar(reasons), key=f"case-reasons-{transaction_id}")
            for reason in reasons:
                st.markdown(f"- {reason['sentence']}")
        else:
            st.caption("No reasons were recorded for this decision.")
    with read, api_section("reading the decision's features"):
        _features(client, transaction_id, {r["feature"] for r in reasons})
    label = case.get("label")
    if label:
        st.info(f"Label: **{label.get('label')}** ({label.get('source')})")
    left, right = st.columns(2)
    for column, who, key in ((left, "payer", "payer_history"), (right, "payee", "payee_history")):
        history = case.get(key) or []
        with column:
            if history:
                title = f"The {who}'s recent activity"
                st.plotly_chart(
                    charts.activity_timeline(history, title), key=f"{key}-{transaction_id}"
                )
            else:
                st.caption(f"No earlier activity for the {who}.")
    audit = case.get("audit") or []
    if audit:
        with st.expander("History of this case"):
            st.dataframe(audit, hide_index=True)


def _features(client: FriskClient, transaction_id: str, reasons: set[str]) -> None:
    """The feature values the decision read, as recorded; those behind a reason first."""
    features: dict[str, Any] = client.decision(transaction_id, features=True).get("features") or {}
    if not features:
        st.caption("No feature values were recorded with this decision.")
        return
    rows = [
        {"feature": name, "value": _text(value), "reason": name in reasons}
        for name, value in sorted(features.items(), key=lambda kv: (kv[0] not in reasons, kv[0]))
    ]
    st.markdown("**Features the decision read**")
    st.dataframe(  # values shown as text in a table cell, never as markup
        rows,
        hide_index=True,
        key=f"case-features-{transaction_id}",
        height=320,
        column_config={"reason": st.column_config.CheckboxColumn("in reasons")},
    )


def _text(value: Any) -> str:
    """A feature value as the table shows it: numbers to 6 significant digits, missing as -."""
    if value is None:
        return "-"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:,.6g}"
    return str(value)


def _actions(client: FriskClient, review: dict[str, Any]) -> None:
    transaction_id = review["transaction_id"]
    note = st.text_area("Note", key=f"note-{transaction_id}", placeholder="why (optional)")
    me = (st.session_state.get("reviews.me") or "").strip() or "analyst"
    a, b, c, d = st.columns(4)
    version = review.get("version")
    action: tuple[str, dict[str, Any]] | None = None
    resolved = review.get("status") == "resolved"
    if a.button("Fraud", type="primary", shortcut="Alt+F", disabled=resolved):
        action = ("resolve", {"resolution": "fraud"})
    if b.button("Legit", shortcut="Alt+L", disabled=resolved):
        action = ("resolve", {"resolution": "legit"})
    if c.button("Assign to me", shortcut="Alt+A", disabled=resolved):
        action = ("assign", {"assignee": me})
    if d.button("Reopen", disabled=not resolved):
        action = ("reopen", {})
    if action is None:
        return
    name, fields = action
    with api_section(f"{name} {transaction_id}"):
        try:
            got = client.act_on_review(
                transaction_id, name, note=note or None, version=version, **fields
            )
        except ApiError as exc:
            if exc.status == 409:
                st.warning(f"Someone changed this case meanwhile: {exc.message}. Reload it.")
                return
            raise
        done = got.get("resolution") or got.get("status")
        st.toast(f"{transaction_id}: {done}")
        st.rerun()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"
