"""Untrusted text made safe for Streamlit's Markdown and Plotly's labels.

Most Streamlit elements (``st.markdown``, ``st.caption``, ``st.info``, ``st.subheader``, an
expander's label, a toast) render their text as Markdown, with Streamlit's own additions (``:red[]``
colours, ``:material/...:`` icons, ``$`` maths, bare URLs turned into links). A payer or merchant
controls ids, categories, devices and extra attributes, and reason sentences quote them: written
into Markdown, ``[verify your account](https://...)`` is a live link on the analyst's screen and
``![](https://...)`` a remote image (a tracking pixel) loaded when the case opens. ``md`` escapes
every ASCII punctuation character (CommonMark lets any of them be escaped), which leaves no link,
image, emphasis or directive. Streamlit also turns bare URLs, ``www.`` names and e-mail addresses
in the rendered *text* into links (GFM's autolink literals, found after escapes are read), so a
zero-width space goes after each ``://``, ``www`` and before each ``@``: the text looks the same,
and nothing in it is a link. Plotly reads a subset of HTML in its labels (``<a href>`` among
it): ``label`` escapes that.
"""

from __future__ import annotations

import html
import re
from typing import Final

__all__ = ["label", "md"]

_PUNCTUATION: Final = re.compile(r"([!-/:-@\[-`{-~])")
_BREAKS: Final = re.compile(r"[\r\n\t]+")
_AUTOLINKS: Final = re.compile(r"(://|(?i:www)(?=\.)|(?=@))")
_ZWSP: Final = "\u200b"


def md(value: object) -> str:
    """``value`` as Markdown that renders as exactly its text, on one line."""
    text = _BREAKS.sub(" ", str(value))
    text = _AUTOLINKS.sub(lambda m: m.group(1) + _ZWSP if m.group(1) else _ZWSP, text)
    return _PUNCTUATION.sub(r"\\\1", text)


def label(value: object) -> str:
    """``value`` as a Plotly label: its text, no markup."""
    return html.escape(str(value), quote=False)
