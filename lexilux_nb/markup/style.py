"""Inline styles for everything we show, built from JupyterLab's CSS variables.

No output carries a ``<style>`` element: a sanitiser (JupyterLab's HTML export, nbconvert's
``sanitize_html``, GitHub) drops or escapes it and the CSS then shows as text. Styles are inline
``style=`` attributes instead, so a sanitiser that strips them leaves plain, structured HTML.

Colours come from the theme (``--jp-*`` variables, with light fallbacks where no theme defines
them), or derive from the surrounding text (``currentColor``), so light, dark and high-contrast
themes all read well. Where a theme's own colour is too faint for body text (WCAG 4.5:1), it is
mixed toward the text colour with ``color-mix``; a browser without ``color-mix`` ignores that
declaration and the text keeps the theme's plain colour.

Every constant is free of quote characters, so it fits in either kind of quoted attribute. Only
the tags in :data:`EXPORT_SAFE_TAGS` are ever emitted for persisted outputs.
"""

from __future__ import annotations

import html

__all__ = [
    "BORDER",
    "BUBBLE",
    "CODE_BG",
    "CODE_FONT",
    "CODE_TEXT",
    "ERROR",
    "EXPORT_SAFE_TAGS",
    "FOOTER",
    "INFO",
    "MUTED",
    "NOTE",
    "SCROLL",
    "SUBTLE_BG",
    "SUCCESS",
    "WARN",
    "bubble_style",
    "footer_html",
    "item_block",
    "note_html",
    "reasoning_block",
    "reasoning_details",
    "status_html",
    "toward_text",
    "var",
    "wrap_answer",
]

EXPORT_SAFE_TAGS = frozenset(
    {"a", "b", "blockquote", "code", "div", "em", "i", "li", "ol", "pre", "span", "strong", "ul"}
)
"""Tags nbconvert's sanitiser keeps (bleach's defaults plus div, pre, code, span, table, tr, td).

It *escapes* every other tag, so ``<p>``, ``<h2>``, ``<th>``, ``<details>`` or ``<br>`` in an
output show as literal tag text in JupyterLab's sanitised HTML export. Its HTML parser also adds
a ``<tbody>`` to any ``<table><tr>``, which it then escapes the same way, so even ``table`` is
unusable. Headings, paragraphs and tables are therefore ``div``/``span`` elements with inline
styles and ARIA roles."""


def var(name: str, fallback: str) -> str:
    """``var(--jp-NAME, FALLBACK)``: the theme's value, or ``fallback`` outside JupyterLab."""
    return f"var(--jp-{name},{fallback})"


def toward_text(colour: str, percent: int) -> str:
    """``colour`` mixed ``percent`` % toward the surrounding text colour (more contrast)."""
    return f"color-mix(in srgb,{colour},currentColor {percent}%)"


INFO = "ℹ"
"""The mark before a notice: U+2139, which the common fonts have (DejaVu, on most Linux desktops,
has no ⓘ, shown there as an empty box)."""

# -- palette ------------------------------------------------------------------------------------

MUTED = "color-mix(in srgb,currentColor 70%,transparent)"
"""Secondary text: the surrounding text colour, a little lighter (≥ 4.5:1 on every theme)."""
BORDER = var("border-color2", "#8885")  # fallbacks: translucent greys, fine on any background
SUBTLE_BG = var("layout-color2", "#8882")
"""Background for inline code, header cells and bubbles; text on it keeps the theme colour."""
CODE_BG = var("cell-editor-background", "#f6f8fa")
CODE_TEXT = var("content-font-color1", "#1f2328")
"""Code blocks set background and text together, so they read well even with no theme."""
CODE_FONT = var("code-font-family", "monospace")
SUCCESS = toward_text(var("success-color1", "#15803d"), 35)
WARN = toward_text(var("warn-color1", "#b45309"), 45)
ERROR = toward_text(var("error-color1", "#b91c1c"), 20)

# Code token colours: JupyterLab's editor palette. Fallbacks are its light theme; the mix
# percentages keep 4.5:1 in its light, dark and dark high-contrast themes on
# --jp-cell-editor-background (checked in tests/e2e/test_themes.py).
TOKEN_COLOURS = {
    name: toward_text(var(f"mirror-editor-{name}-color", fallback), mix)
    if mix
    else var(f"mirror-editor-{name}-color", fallback)
    for name, fallback, mix in (
        ("keyword", "#008000", 0),
        ("operator", "#7800c2", 0),
        ("number", "#008800", 10),
        ("string", "#ba2121", 0),
        ("comment", "#408080", 20),
        ("meta", "#aa22ff", 30),
        ("def", "#0000ff", 10),
        ("builtin", "#008000", 0),
        ("tag", "#117700", 20),
        ("attribute", "#0000cc", 0),
        ("property", "#0055aa", 0),
        ("header", "#0000ff", 0),
    )
}
TOKEN_VARS = {name: f"--lx-{name[0]}{'r' if name == 'property' else ''}" for name in TOKEN_COLOURS}
"""The short custom property of each token colour (``--lx-k`` for keyword, …)."""
TOKEN_PALETTE = ";".join(f"{TOKEN_VARS[name]}:{colour}" for name, colour in TOKEN_COLOURS.items())
"""Set on every box that holds rendered answers; code tokens refer to it (``var(--lx-…)``)."""

# -- element styles (used by the renderer in .html) --------------------------------------------

ANSWER = f"line-height:1.5;overflow-wrap:break-word;max-width:100%;min-width:0;{TOKEN_PALETTE}"
PARAGRAPH = "margin:0 0 .75em"
HEADING_SIZES = {1: "1.6em", 2: "1.35em", 3: "1.15em", 4: "1em", 5: ".95em", 6: ".9em"}
HEADING = "font-weight:600;line-height:1.25;margin:{top} 0 .45em;font-size:{size}"
BLOCKQUOTE = f"margin:.6em 0;padding:0 .9em;border-left:3px solid {BORDER}"
LIST = "margin:.3em 0 .75em;padding-left:1.8em"
TABLE = "display:block;overflow-x:auto;max-width:100%;margin:.6em 0 .9em"
TABLE_GRID = "display:table;border-collapse:collapse"
TABLE_ROW = "display:table-row"
CELL = (
    f"display:table-cell;border:1px solid {BORDER};padding:4px 10px;vertical-align:top;text-align:"
)
HEADER_CELL = f"font-weight:600;background:{SUBTLE_BG};" + CELL
CELL_SEPARATOR = "display:none"
CODE_BLOCK = (  # every code block carries it: kept short (white-space: JupyterLab wraps <pre>)
    f"background:{CODE_BG};color:{CODE_TEXT};border-radius:4px;padding:8px 12px;"
    "margin:.6em 0 .9em;overflow-x:auto;white-space:pre;line-height:1.45;font-size:.9em;"
    f"font-family:{CODE_FONT}"
)
CODE_INNER = "background:none;padding:0;color:inherit"
RULE = f"border-top:1px solid {BORDER};margin:1em 0"
STRIKE = "text-decoration:line-through"
FOOTER = f"margin-top:.4em;font-size:.85em;color:{MUTED}"
NOTE = f"font-size:.85em;color:{MUTED}"
REASONING = f"margin:0 0 .8em;padding:0 .9em;border-left:3px solid {BORDER};font-size:.92em"
ITEM = f"margin:.2em 0 .5em;padding:0 .7em;border-left:3px solid {BORDER}"
ITEM_PRE = (  # bounded: a long item scrolls in its box instead of pushing the answer down
    f"background:{SUBTLE_BG};border-radius:4px;padding:4px 10px;margin:.2em 0;max-height:9em;"
    "overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em;"
    f"font-family:{CODE_FONT}"
)

# -- the chat panel -------------------------------------------------------------------------------

BUBBLE = {
    "user": (
        "margin:6px 0 6px 15%;padding:6px 10px;border-radius:8px;min-width:0;"
        "background:color-mix(in srgb,var(--jp-brand-color1,#1976d2) 15%,transparent)"
    ),
    "assistant": (
        f"margin:6px 15% 6px 0;padding:6px 10px;border-radius:8px;min-width:0;"
        f"background:{SUBTLE_BG}"
    ),
    "other": f"margin:6px 0;padding:4px 10px;font-size:.85em;color:{MUTED}",
}
"""One chat bubble per role: a tint over the theme's background, text in the theme's colour."""
SCROLL = (
    "max-height:420px;overflow-y:auto;overflow-x:hidden;display:flex;"
    f"flex-direction:column-reverse;border:1px solid {BORDER};border-radius:6px;padding:4px 8px"
)
"""A transcript box that keeps the newest message in view (wrap its content in one block)."""


def bubble_style(role: str) -> str:
    """The bubble style for ``role`` (``user``, ``assistant``; anything else is a muted note)."""
    return BUBBLE.get(role, BUBBLE["other"])


# -- building blocks ----------------------------------------------------------------------------


def wrap_answer(body_html: str) -> str:
    """Rendered answer HTML in its ``.lexilux-answer`` container (inline styles only)."""
    return f'<div class="lexilux-answer" style="{ANSWER}">{body_html}</div>'


def footer_html(text: str) -> str:
    """The small muted line under an answer (model, tokens, time); ``text`` is escaped."""
    return f'<div class="lexilux-footer" style="{FOOTER}">{html.escape(text)}</div>'


def note_html(text: str) -> str:
    """A muted remark on a line of its own; ``text`` is escaped."""
    return f'<div style="{NOTE}">{html.escape(text)}</div>'


def status_html(text: str, *, error: bool = False) -> str:
    """A status line: muted, or in the theme's error colour; ``text`` is escaped."""
    colour = ERROR if error else MUTED
    return f'<span style="color:{colour};font-size:.85em">{html.escape(text)}</span>'


def reasoning_block(body_html: str) -> str:
    """Reasoning above a persisted answer: an indented, labelled block every sanitiser keeps."""
    label = f'<div style="{NOTE}"><em>Reasoning</em></div>'
    return (
        f'<blockquote class="lexilux-reasoning" style="{REASONING}">{label}'
        f"<div>{body_html}</div></blockquote>"
    )


def item_block(title: str, sections: list[tuple[str, str]], *, kind: str) -> str:
    """A side item in a saved output (a tool call, the context sent): a muted title line, then
    each ``(label, text)`` section in a bounded box that scrolls.

    Not ``<details>``: nbconvert's sanitiser shows that tag as text, so a collapsed item would
    read as markup in an exported notebook. Every piece is escaped; labels may be empty.
    """
    parts = [f'<div style="{NOTE}">{html.escape(title)}</div>']
    for label, text in sections:
        if label:
            parts.append(f'<div style="{NOTE}"><em>{html.escape(label)}</em></div>')
        parts.append(f'<pre style="{ITEM_PRE}">{html.escape(text)}</pre>')
    return f'<div class="lexilux-{kind}" style="{ITEM}">{"".join(parts)}</div>'


def reasoning_details(body_html: str, *, opened: bool = False) -> str:
    """Reasoning as a collapsed ``<details>`` section, for live views that are never saved.

    ``<details>`` is not export-safe (nbconvert's sanitiser shows its tags as text): persisted
    outputs use :func:`reasoning_block`.
    """
    state = " open" if opened else ""
    return (
        f'<details class="lexilux-reasoning"{state}><summary>Reasoning</summary>'
        f'<div class="lexilux-reasoning-body" style="{REASONING}">{body_html}</div></details>'
    )
