"""The connection to the API for one browser session, the login form, and the error states."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from frisk.client import (
    API_KEY_ENV,
    API_URL_ENV,
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiUnauthenticated,
    ApiUnavailable,
    FriskClient,
)
from frisk.dashboard.text import md

__all__ = ["api_section", "connected_client", "guarded", "show_error"]

DEFAULT_URL = "http://127.0.0.1:8000"


def connected_client() -> FriskClient | None:
    """This session's client: from the environment, or from the login form (None until then)."""
    state = st.session_state
    if "api_url" not in state:
        state.api_url = os.environ.get(API_URL_ENV, DEFAULT_URL)
        state.api_key = os.environ.get(API_KEY_ENV, "")
    if not state.api_key:
        _login_form()
        return None
    client = state.get("client")
    if not isinstance(client, FriskClient) or (client.base_url, client.api_key) != (
        state.api_url.rstrip("/"),
        state.api_key,
    ):
        client = FriskClient(state.api_url, state.api_key)
        state.client = client
    with st.sidebar:
        st.caption(f"API: {client.base_url}")
        if st.button("Log out", key="logout"):
            _logout()
    return client


def show_error(exc: ApiError, doing: str = "") -> None:
    """One clear state per kind of failure; ``doing`` says what could not be done."""
    what = f" ({doing})" if doing else ""
    if isinstance(exc, ApiUnavailable):
        st.error(
            f"**The API is down.** {md(exc.message)}{what}. Start it with `frisk serve`, "
            "then reload this page.",
            icon=":material/cloud_off:",
        )
    elif isinstance(exc, ApiUnauthenticated):
        st.error(
            f"**The API does not accept this key.** {md(exc.message)}. Log in with another key.",
            icon=":material/key_off:",
        )
        if st.button("Log in again", key=f"relogin-{doing}"):
            _logout()
    elif isinstance(exc, ApiForbidden):
        st.warning(
            f"**This key may not do this{what}.** {md(exc.message)}. Ask for a key with the role "
            "it needs (scoring needs a scorer or admin key; managing rules and models, admin).",
            icon=":material/block:",
        )
    elif isinstance(exc, ApiNotFound) and exc.route_missing:
        st.info(
            f"**This API does not offer this yet{what}:** it has no {md(exc.route)}.",
            icon=":material/construction:",
        )
    else:
        # The message may quote what was sent (an id, a value): escaped, shown as text.
        detail = f" (field {md(exc.field)})" if exc.field else ""
        reference = f" Request id {md(exc.request_id)}." if exc.request_id else ""
        st.error(
            f"**{exc.status} {md(exc.error or 'error')}**{what}: {md(exc.message)}{detail}."
            f"{reference}"
        )


@contextmanager
def api_section(doing: str) -> Iterator[None]:
    """Run a part of a page; an API failure shows its state there and the rest goes on."""
    try:
        yield
    except ApiError as exc:
        show_error(exc, doing)


def guarded(render: Callable[[FriskClient], None]) -> Callable[[], None]:
    """A page callable for ``st.navigation``: connect, then render, showing any API failure."""

    def page() -> None:
        client = connected_client()
        if client is None:
            return
        try:
            render(client)
        except ApiError as exc:
            show_error(exc)

    page.__name__ = render.__module__.rsplit(".", 1)[-1]
    return page


def _login_form() -> None:
    st.title("Frisk")
    st.write("Log in with an API key (`frisk keys create --role analyst`).")
    with st.form("login"):
        url = st.text_input("API URL", value=st.session_state.api_url)
        key = st.text_input("API key", type="password")
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return
    client = FriskClient(url, key)
    try:
        client.stats()
    except ApiForbidden:
        pass  # a scorer key: valid, it just may not read; the pages will say what it cannot do
    except ApiError as exc:
        show_error(exc, "logging in")
        return
    finally:
        client.close()
    st.session_state.api_url, st.session_state.api_key = url, key
    st.rerun()


def _logout() -> None:
    st.session_state.api_key = ""
    st.session_state.pop("client", None)
    st.rerun()
