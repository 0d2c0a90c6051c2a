"""Score: a transaction form, the decision as a gauge, the reasons as a bar chart."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from frisk.client import ApiError, FriskClient
from frisk.dashboard import charts
from frisk.dashboard.examples import (
    CHANNELS,
    CURRENCIES,
    default_transaction,
    new_transaction_id,
    random_transaction,
)
from frisk.dashboard.session import show_error

__all__ = ["render"]

_FIELDS = (
    "transaction_id",
    "timestamp",
    "amount",
    "currency",
    "payer_id",
    "payee_id",
    "device_id",
    "channel",
    "merchant_category",
    "payer_country",
    "payee_country",
)
_PREFIX = "score."


def render(client: FriskClient) -> None:
    st.title("Score a transaction")
    if f"{_PREFIX}transaction_id" not in st.session_state:
        _load(default_transaction())
    left, middle, _ = st.columns([1, 1, 2])
    left.button("Random realistic example", on_click=_load_random, shortcut="Ctrl+E")
    middle.button("Defaults", on_click=lambda: _load(default_transaction()))

    with st.form("transaction"):
        a, b, c = st.columns(3)
        a.text_input("Transaction id", key=f"{_PREFIX}transaction_id")
        b.text_input("Time (ISO 8601)", key=f"{_PREFIX}timestamp")
        c.number_input("Amount", min_value=0.01, step=1.0, format="%.2f", key=f"{_PREFIX}amount")
        a.selectbox("Currency", CURRENCIES, key=f"{_PREFIX}currency", accept_new_options=True)
        b.text_input("Payer", key=f"{_PREFIX}payer_id")
        c.text_input("Payee", key=f"{_PREFIX}payee_id")
        a.text_input("Device", key=f"{_PREFIX}device_id")
        b.selectbox("Channel", CHANNELS, key=f"{_PREFIX}channel", accept_new_options=True)
        c.text_input("Merchant category", key=f"{_PREFIX}merchant_category")
        a.text_input("Payer country", key=f"{_PREFIX}payer_country")
        b.text_input("Payee country", key=f"{_PREFIX}payee_country")
        c.number_input("Account age (days)", min_value=0, step=1, key=f"{_PREFIX}account_age")
        a.text_input("Entry mode", key=f"{_PREFIX}entry_mode")
        submitted = st.form_submit_button("Score", type="primary")
    if submitted:
        try:
            st.session_state[f"{_PREFIX}result"] = client.score(_body())
        except ApiError as exc:
            st.session_state.pop(f"{_PREFIX}result", None)
            show_error(exc, "scoring")
    decision = st.session_state.get(f"{_PREFIX}result")
    if decision:
        _show_decision(decision, _typical_latency(client))


def _typical_latency(client: FriskClient) -> tuple[float, int] | None:
    """The service's median decision latency and over how many decisions; None when this key
    may not read /v1/stats or nothing was decided yet."""
    try:
        stats = client.stats()
    except ApiError:
        return None
    p50, window = stats.get("latency_ms_p50"), stats.get("latency_window")
    if p50 is None or not window:
        return None
    return float(p50), int(window)


def _show_decision(decision: dict[str, Any], typical: tuple[float, int] | None = None) -> None:
    st.subheader(f"Decision for {decision['transaction_id']}")
    gauge, figures = st.columns([1, 1])
    gauge.plotly_chart(charts.risk_gauge(decision), key="gauge")
    figures.metric("Action", str(decision["action"]).upper())
    figures.metric("Risk tier", decision["risk_tier"])
    figures.metric("Fraud probability", f"{decision['score']:.4f}")
    # One request's time varies (a cold cache, a busy machine, the first call of a fresh
    # process): the median of the service's recent decisions says what is typical.
    figures.metric(
        "Latency of this decision",
        f"{decision['latency_ms']:.2f} ms",
        help="Server time to decide this one transaction, measured when it was decided.",
    )
    if typical is not None:
        figures.caption(
            f"median of the service's recent decisions (up to {typical[1]:,}): {typical[0]:.2f} ms"
        )
    figures.caption(
        f"model {decision['model_version']}" + (" · degraded" if decision.get("degraded") else "")
    )
    policy = decision.get("policy") or {}
    if policy.get("decided_by") not in (None, "model"):
        st.info(
            f"Decided by **{policy['decided_by']}** (the model said {policy.get('model_action')})."
        )
    for match in policy.get("matched") or []:
        st.caption(f"rule {match['rule']} matched ({match['mode']}, {match['action']})")
    reasons = decision.get("reasons") or []
    if not reasons:
        st.info("No reasons: the model gives them with alerts and high scores.")
        return
    st.plotly_chart(charts.reasons_bar(reasons), key="reasons")
    st.markdown("**Reasons**")
    for reason in reasons:
        st.markdown(
            f"- {reason['sentence']} (`{reason['feature']}`, {reason['contribution']:+.2f})"
        )


def _body() -> dict[str, Any]:
    state = st.session_state
    body: dict[str, Any] = {}
    for name in _FIELDS:
        value = state.get(f"{_PREFIX}{name}")
        if isinstance(value, str):
            value = value.strip() or None
        if value is not None:
            body[name] = value
    extra: dict[str, Any] = {}
    if state.get(f"{_PREFIX}account_age") is not None:
        extra["account_age_days"] = state[f"{_PREFIX}account_age"]
    if (state.get(f"{_PREFIX}entry_mode") or "").strip():
        extra["entry_mode"] = state[f"{_PREFIX}entry_mode"].strip()
    if extra:
        body["extra"] = extra
    return body


def _load(txn: dict[str, Any]) -> None:
    state = st.session_state
    for name in _FIELDS:
        value = txn.get(name)
        state[f"{_PREFIX}{name}"] = float(value or 0.0) if name == "amount" else (value or "")
    extra = txn.get("extra") or {}
    state[f"{_PREFIX}account_age"] = int(extra.get("account_age_days", 0))
    state[f"{_PREFIX}entry_mode"] = extra.get("entry_mode") or ""
    state.pop(f"{_PREFIX}result", None)


def _load_random() -> None:
    rng = st.session_state.setdefault(f"{_PREFIX}rng", random.Random())
    txn = random_transaction(rng, datetime.now(UTC))
    txn["transaction_id"] = new_transaction_id()
    _load(txn)
