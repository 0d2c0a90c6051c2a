"""The dashboard's pages and navigation; ``entry/app.py`` is the script Streamlit runs.

The API's URL and key come from ``FRISK_API_URL`` and ``FRISK_API_KEY``, or the login form.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from frisk.dashboard.pages import models, monitoring, reviews, rules, score
from frisk.dashboard.session import guarded

__all__ = ["ICON", "main"]

ICON = Path(__file__).parent / "static" / "icon.png"


def main() -> None:
    # A file of ours: a ":material/...:" page icon makes the browser fetch it from a public CDN.
    st.set_page_config(page_title="Frisk", page_icon=str(ICON), layout="wide")
    pages = [
        st.Page(guarded(score.render), title="Score", url_path="score", default=True),
        st.Page(guarded(reviews.render), title="Review queue", url_path="reviews"),
        st.Page(guarded(monitoring.render), title="Monitoring", url_path="monitoring"),
        st.Page(guarded(rules.render), title="Rules & lists", url_path="rules"),
        st.Page(guarded(models.render), title="Models", url_path="models"),
    ]
    st.navigation(pages).run()
