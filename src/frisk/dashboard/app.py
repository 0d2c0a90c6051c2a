"""The Streamlit entry point (``streamlit run``; ``frisk dashboard`` does it for you).

The API's URL and key come from ``FRISK_API_URL`` and ``FRISK_API_KEY``, or the login form.
"""

from __future__ import annotations

import streamlit as st

from frisk.dashboard.pages import models, monitoring, reviews, rules, score
from frisk.dashboard.session import guarded

__all__ = ["main"]


def main() -> None:
    st.set_page_config(page_title="Frisk", page_icon=":material/shield:", layout="wide")
    pages = [
        st.Page(guarded(score.render), title="Score", url_path="score", default=True),
        st.Page(guarded(reviews.render), title="Review queue", url_path="reviews"),
        st.Page(guarded(monitoring.render), title="Monitoring", url_path="monitoring"),
        st.Page(guarded(rules.render), title="Rules & lists", url_path="rules"),
        st.Page(guarded(models.render), title="Models", url_path="models"),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
