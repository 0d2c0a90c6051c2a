"""Models: which version serves and which shadows, every version's metrics and report, promote."""

from __future__ import annotations

from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from frisk.client import ApiError, FriskClient
from frisk.dashboard.session import api_section, show_error

__all__ = ["render"]


def render(client: FriskClient) -> None:
    st.title("Models")
    flash = st.session_state.pop("models.flash", None)
    if flash:
        st.success(flash)
    models = client.models()
    serving = models.get("serving")
    shadow = models.get("shadow")
    left, right = st.columns(2)
    with left:
        st.subheader("In production")
        _describe(serving)
    with right:
        st.subheader("In shadow")
        _describe(shadow)
    if models.get("shadow_error"):
        st.warning(f"The shadow model is not loaded: {models['shadow_error']}")
    if models.get("reload_error"):
        st.warning(f"The registry's production version is not served: {models['reload_error']}")
    versions = models.get("versions")
    if versions is None:
        st.info(
            "This API lists only the serving model (no `versions` in GET /v1/models): "
            "promotion, roll-back and shadowing are not offered."
        )
        _reload(client)
        return
    _versions(client, versions)


def _describe(model: dict[str, Any] | None) -> None:
    if not model:
        st.write("none")
        return
    st.metric("Version", model["version"])
    thresholds = model.get("thresholds") or {}
    if thresholds:
        st.write(" · ".join(f"{name} ≥ {cut:.4f}" for name, cut in thresholds.items()))
    facts = {
        "features": model.get("features"),
        "catalogue": model.get("catalogue_version"),
        "loaded": model.get("loaded_at"),
        "source": model.get("source"),
    }
    st.caption(" · ".join(f"{k} {v}" for k, v in facts.items() if v is not None))


def _versions(client: FriskClient, versions: list[dict[str, Any]]) -> None:
    st.subheader("Versions")
    if not versions:
        st.info("The registry holds no model versions.")
        return
    rows = [
        {
            "version": v["version"],
            "stage": v.get("stage"),
            "created": v.get("created_at"),
            **{k: val for k, val in (v.get("metrics") or {}).items() if _scalar(val)},
        }
        for v in versions
    ]
    st.dataframe(rows, hide_index=True, key="versions")
    names = [v["version"] for v in versions]
    chosen = st.selectbox("Version", names, key="models.version")
    a, b, c, d = st.columns(4)
    done = None
    try:
        if a.button("Promote to production", type="primary", disabled=chosen is None):
            client.promote(str(chosen))
            done = f"{chosen} is now in production."
        if b.button("Roll back production"):
            got = client.rollback()
            done = f"Rolled back: {(got.get('serving') or {}).get('version')} serves."
        if c.button("Shadow this version", disabled=chosen is None):
            client.set_shadow(str(chosen))
            done = f"{chosen} now scores in shadow."
        if d.button("Stop shadowing"):
            client.set_shadow(None)
            done = "No model in shadow."
    except ApiError as exc:
        show_error(exc, "changing models")
    if done:
        st.session_state["models.flash"] = done
        st.rerun()
    report = next((v for v in versions if v["version"] == chosen), {})
    if report.get("report"):
        with st.expander(f"Evaluation report of {chosen}"), api_section("reading the report"):
            components.html(client.model_report(str(chosen)), height=900, scrolling=True)


def _reload(client: FriskClient) -> None:
    if st.button("Reload the registry's production model"):
        try:
            got = client.reload_model()
            st.success(f"serving {(got.get('serving') or {}).get('version')}")
        except ApiError as exc:
            show_error(exc, "reloading")


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | str | bool) or value is None
