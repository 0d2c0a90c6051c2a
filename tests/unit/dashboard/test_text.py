"""``dashboard.text.md``: a value a payer or merchant controls, rendered by a CommonMark parser
(markdown-it-py, with raw HTML on, as a worst case), is its own text: no link, no image, no HTML,
no emphasis, and no bare URL left for GFM's autolinking to find (issue #20, case 6)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from frisk.dashboard.text import label, md

_PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_ZWSP = "\u200b"
# What GFM's autolink-literal extension would link in rendered text (Streamlit's renderer does).
_BARE_LINK = re.compile(r"(?i)(https?|ftp)://[^\u200b]|www\.|[\w.+-]@[\w-]")

HOSTILE = [
    "[verify your account](https://evil.example/login)",
    "![](https://tracker.example/pixel.gif)",
    "<img src=https://tracker.example/p.gif>",
    "<a href='https://evil.example'>click</a>",
    "<https://evil.example>",
    "visit https://evil.example now",
    "www.evil.example",
    "mail me: victim@evil.example",
    "**bold** _em_ `code` ~~gone~~",
    "# heading\n- list\n> quote",
    ":red[alert] :material/warning: $x^2$",
    "[ref]: https://evil.example\n[ref]",
    "| a | b |\n|---|---|\n| c | d |",
    "\\[escaped\\](https://evil.example)",
    "&lt;script&gt; &amp; &#x3C;b&#x3E;",
]


def _inline(value: object) -> list[Token]:
    tokens = _PARSER.parse(md(value))
    return [child for t in tokens for child in (t.children or [])] + tokens


def _text(value: object) -> str:
    return "".join(t.content for t in _inline(value) if t.type == "text")


def _check(value: str) -> None:
    kinds = {t.type for t in _inline(value)}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "autolink"}, kinds
    assert not kinds & {"em_open", "strong_open", "s_open", "code_inline", "heading_open"}, kinds
    assert not kinds & {"bullet_list_open", "blockquote_open", "table_open"}, kinds
    shown = _text(value)
    assert shown.replace(_ZWSP, "").strip() == re.sub(r"[\r\n\t]+", " ", value).strip()
    assert not _BARE_LINK.search(shown), shown


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_markdown_renders_as_its_text(value: str) -> None:
    _check(value)


# Control characters never get this far (frisk.bounds refuses them in every id and value).
@given(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=60))
def test_any_text_renders_as_itself(value: str) -> None:
    _check(value.replace(_ZWSP, ""))


def test_plotly_labels_are_text() -> None:
    assert label("<a href='https://evil.example'>x</a>") == (
        "&lt;a href='https://evil.example'&gt;x&lt;/a&gt;"
    )
