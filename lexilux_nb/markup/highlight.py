"""Code blocks coloured with the notebook theme's own code palette.

Pygments' styles are fixed hex colours: on a dark theme its dark tokens vanish, and a fixed light
background makes the theme's light plain text unreadable. Only Pygments' *lexers* are used here;
each token type is drawn with JupyterLab's editor colour for it (``--jp-mirror-editor-*``, the
colours of a code cell), so highlighting follows light, dark and high-contrast themes. A few of
those colours are fainter than 4.5:1 on the cell background in some theme; they are mixed a
little toward the text colour (see :func:`.style.toward_text`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import pygments
from markdown_it.common.utils import escapeHtml
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    String,
    Text,
    _TokenType,
)
from pygments.util import ClassNotFound

from .style import CODE_BLOCK, CODE_INNER, TOKEN_VARS

__all__ = ["HIGHLIGHT_MAX_CHARS", "highlight_code", "token_style"]

HIGHLIGHT_MAX_CHARS = 200_000
"""Code blocks longer than this are shown unhighlighted (bounded Pygments cost)."""


def _colour(name: str) -> str:
    """A token colour: one of the palette's custom properties, set once on the answer's box
    (:data:`.style.TOKEN_PALETTE`), so each token carries a few bytes, not the whole colour."""
    return f"color:var({TOKEN_VARS[name]})"


_KEYWORD = _colour("keyword") + ";font-weight:bold"
_STRING = _colour("string")
_META = _colour("meta")
_TOKEN_STYLES: dict[_TokenType, str] = {
    Keyword: _KEYWORD,
    Operator: _colour("operator"),
    Operator.Word: _KEYWORD,
    Number: _colour("number"),
    Literal: _colour("number"),
    String: _STRING,
    Comment: _colour("comment") + ";font-style:italic",
    Comment.Preproc: _META,
    Comment.PreprocFile: _META,
    Name.Decorator: _META,
    Name.Function: _colour("def"),
    Name.Class: _colour("def"),
    Name.Builtin: _colour("builtin"),
    Name.Exception: _colour("builtin"),
    Name.Tag: _colour("tag"),
    Name.Attribute: _colour("attribute"),
    Name.Property: _colour("property"),
    Generic.Heading: _colour("header") + ";font-weight:bold",
    Generic.Subheading: _colour("header") + ";font-weight:bold",
    Generic.Inserted: _colour("keyword"),
    Generic.Deleted: _STRING,
    Generic.Error: _STRING,
    Generic.Prompt: _KEYWORD,
    Generic.Emph: "font-style:italic",
    Generic.Strong: "font-weight:bold",
    # Plain names and text take the block's colour. Streaming code is full of Error tokens (an
    # unterminated string, say): no red boxes, just the block's colour.
    Name: "",
    Text: "",
    Error: "",
}


@lru_cache(maxsize=1024)
def token_style(ttype: _TokenType) -> str:
    """Inline style for a Pygments token type ('' for plain text): its nearest mapped ancestor."""
    node: Any = ttype
    while node is not None:
        style = _TOKEN_STYLES.get(node)
        if style is not None:
            return style
        node = node.parent
    return ""


def _format(tokens: Any) -> str:
    """Escaped HTML: one ``<span style>`` per run of tokens that share a style."""
    out: list[str] = []
    run: list[str] = []
    current = ""
    for ttype, value in tokens:
        style = token_style(ttype)
        if style != current and not value.isspace():  # whitespace joins whatever run it is in
            if run:
                text = escapeHtml("".join(run))
                out.append(f'<span style="{current}">{text}</span>' if current else text)
                run.clear()
            current = style
        run.append(value)
    if run:
        text = escapeHtml("".join(run))
        out.append(f'<span style="{current}">{text}</span>' if current else text)
    return "".join(out)


_LANG_RE = re.compile(r"^[A-Za-z0-9_+#.\-]{1,40}$")
_PLAIN_LANGS = frozenset({"text", "txt", "plain", "plaintext", "none", "output", "console"})


@lru_cache(maxsize=256)
def _lexer_for(lang: str) -> Any:
    """Pygments lexer for a validated language name, or None."""
    if not lang or lang in _PLAIN_LANGS:
        return None
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


_CLASSES = HtmlFormatter(nowrap=True)


def highlight_code(
    code: str, lang: str = "", *, highlight: bool = True, classes: bool = False
) -> str:
    """A code block as a self-contained ``<pre>``: theme colours, scrolls sideways, never wraps.

    Unknown or invalid languages, ``highlight=False`` and huge blocks are escaped plain text.
    The language name reaches the ``class`` attribute only after validation. ``classes=True``
    gives the live view's lighter form: Pygments' short class names inside ``div.highlight``,
    which JupyterLab colours with its own theme (its ``jupyterlab_pygments`` stylesheet).
    """
    lang = lang if _LANG_RE.match(lang) else ""
    use_lexer = highlight and lang and len(code) <= HIGHLIGHT_MAX_CHARS
    lexer = _lexer_for(lang.lower()) if use_lexer else None
    code_class = f' class="language-{escapeHtml(lang)}"' if lang else ""
    if classes:
        body = pygments.highlight(code, lexer, _CLASSES) if lexer is not None else escapeHtml(code)
        return (
            f'<div class="highlight lexilux-code"><pre><code{code_class}>{body}</code></pre>'
            "</div>\n"
        )
    body = _format(lexer.get_tokens(code)) if lexer is not None else escapeHtml(code)
    return (
        f'<pre class="lexilux-code" style="{CODE_BLOCK}">'
        f'<code{code_class} style="{CODE_INNER}">{body}</code></pre>\n'
    )
