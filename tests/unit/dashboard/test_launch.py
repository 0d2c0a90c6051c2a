"""The script Streamlit runs stands alone: a pages/ folder beside it would be taken for an
old-style multipage app (the first session's sidebar listed module names, deep links failed)."""

from __future__ import annotations

from frisk.dashboard.app import ICON
from frisk.dashboard.launch import APP, dashboard_command


def test_the_streamlit_script_has_no_pages_folder_beside_it() -> None:
    assert APP.is_file()
    assert not (APP.parent / "pages").exists()
    assert str(APP) in dashboard_command("127.0.0.1", 8501)


def test_the_page_icon_is_a_file_of_ours() -> None:
    assert ICON.is_file()
    assert ICON.read_bytes().startswith(b"\x89PNG")
