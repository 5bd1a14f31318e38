"""Safe markdown → HTML for untrusted model output, intact under every sanitiser.

JupyterLab renders the outputs of the current session as *trusted* and does not sanitise them, so
everything produced here must already be inert:

* raw HTML in the source is never passed through (markdown-it ``html=False``);
* links keep an ``href`` only for ``http:``, ``https:`` and ``mailto:``; anything else
  (``javascript:``, ``data:``, relative links, obfuscated or entity-encoded schemes, …) is
  rendered as its label text only;
* images are rendered as *links* to the image, never as ``<img>`` (an image loads on display,
  without a click, which lets injected content exfiltrate data through the URL);
  ``render_markdown(..., inline_images=True)`` opts into real ``<img>`` tags (http/https only).

Exports sanitise in their turn (JupyterLab's "Save and Export Notebook As › HTML", nbconvert's
``sanitize_html``, GitHub): ``style`` attributes are stripped and nbconvert *escapes* every tag
outside :data:`.style.EXPORT_SAFE_TAGS` into visible text (``<table>`` included: its parser adds
a ``<tbody>``). So only those tags are emitted: paragraphs are ``div``, headings a
``div role=heading`` around ``strong``, strikethrough a styled ``span``, rules and hard breaks
empty ``div``, and a table is a CSS table of ``div`` rows and ``span`` cells with ARIA roles,
header cells in ``strong``, and `` | `` between cells that shows only when styles are stripped.
Stripped of its styles the HTML still reads as the markdown did: one line per table row.

Everything here is pure (no IPython), and the parser is created once at import.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from . import style
from .highlight import highlight_code
from .syntax import fence_is_closed, new_parser

__all__ = ["LINK_REL", "is_safe_image_url", "is_safe_url", "render_markdown"]

LINK_REL = "noopener noreferrer nofollow"
"""``rel`` put on every link we emit."""

# Keys in the markdown-it ``env`` understood by our rules.
ENV_INLINE_IMAGES = "lexilux_inline_images"
ENV_PLAIN_OPEN_FENCE = "lexilux_plain_open_fence"

_SAFE_URL_RE = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)
_SAFE_IMAGE_URL_RE = re.compile(r"^https?:", re.IGNORECASE)
# Characters a URL may contain that we refuse anyway (normalised URLs from
# markdown-it are percent-encoded, so these only appear if something is off).
_URL_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f<>\"'`\\]")
_INFO_SPLIT_RE = re.compile(r"[ \t\n\r\f\v]+")
_ALIGN_RE = re.compile(r"text-align:(left|center|right)")


def is_safe_url(url: str) -> bool:
    """True if ``url`` may be used as a link ``href`` (http, https, mailto only)."""
    return bool(_SAFE_URL_RE.match(url)) and not _URL_FORBIDDEN_RE.search(url)


def is_safe_image_url(url: str) -> bool:
    """True if ``url`` may be used as an image source (http, https only)."""
    return bool(_SAFE_IMAGE_URL_RE.match(url)) and not _URL_FORBIDDEN_RE.search(url)


# --------------------------------------------------------------------------- #
# Core rules: links, then export-safe tags
# --------------------------------------------------------------------------- #


def _text_token(content: str) -> Token:
    return Token(type="text", tag="", nesting=0, content=content)


def _image_replacement(tok: Token, *, in_link: bool, inline_images: bool) -> list[Token]:
    """Tokens replacing an ``image`` token (see module docstring)."""
    src = tok.attrGet("src")
    alt = list(tok.children or [])
    if in_link or not isinstance(src, str) or not is_safe_image_url(src):
        return alt  # alt text only
    if inline_images:
        tok.attrs = {"src": src, "alt": "", "referrerpolicy": "no-referrer", "loading": "lazy"}
        return [tok]
    link_open = Token(type="link_open", tag="a", nesting=1)
    link_open.attrs = {
        "href": src,
        "class": "lexilux-image",
        "rel": LINK_REL,
        "target": "_blank",
    }
    title = tok.attrGet("title")
    if isinstance(title, str) and title:
        link_open.attrs["title"] = title
    label = alt if alt else [_text_token("image")]
    return [link_open, _text_token("\U0001f5bc "), *label, Token("link_close", "a", -1)]


def _sanitize_inline(children: list[Token], inline_images: bool) -> list[Token]:
    out: list[Token] = []
    kept_stack: list[bool] = []  # one entry per open link: whether we kept it
    for tok in children:
        if tok.type == "link_open":
            href = tok.attrGet("href")
            keep = isinstance(href, str) and is_safe_url(href) and not any(kept_stack)
            kept_stack.append(keep)
            if keep:
                tok.attrSet("rel", LINK_REL)
                tok.attrSet("target", "_blank")
                out.append(tok)
        elif tok.type == "link_close":
            kept = kept_stack.pop() if kept_stack else False
            if kept:
                out.append(tok)
        elif tok.type == "image":
            out.extend(
                _image_replacement(tok, in_link=any(kept_stack), inline_images=inline_images)
            )
        elif tok.type == "s_open":
            tok.tag = "span"
            tok.attrs = {"style": style.STRIKE}
            out.append(tok)
        elif tok.type == "s_close":
            tok.tag = "span"
            out.append(tok)
        else:
            out.append(tok)
    return out


def _safe_links_rule(state: StateCore) -> None:
    """Core rule: drop unsafe links (keep their text), turn images into links."""
    inline_images = bool(state.env.get(ENV_INLINE_IMAGES, False))
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = _sanitize_inline(block.children, inline_images)


def _embolden(inline: Token) -> None:
    """Wrap an inline token's content in ``<strong>`` (bold even when styles are stripped)."""
    inline.children = [
        Token("strong_open", "strong", 1, markup="**"),
        *(inline.children or []),
        Token("strong_close", "strong", -1, markup="**"),
    ]


_BLOCK_STYLES = {
    "paragraph_open": style.PARAGRAPH,
    "blockquote_open": style.BLOCKQUOTE,
    "bullet_list_open": style.LIST,
    "ordered_list_open": style.LIST,
}


def _export_safe_rule(state: StateCore) -> None:
    """Core rule: re-tag blocks with export-safe tags and give them inline styles."""
    tokens = state.tokens
    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind in _BLOCK_STYLES:
            tok.attrSet("style", _BLOCK_STYLES[kind])
            if kind == "paragraph_open":
                tok.tag = "div"
        elif kind == "paragraph_close":
            tok.tag = "div"
        elif kind == "heading_open":
            level = int(tok.tag[1])
            size = style.HEADING_SIZES[level]
            tok.attrs = {
                "role": "heading",
                "aria-level": str(level),
                "style": style.HEADING.format(top=".8em", size=size),
            }
            tok.tag = "div"
            if i + 1 < len(tokens) and tokens[i + 1].type == "inline":
                _embolden(tokens[i + 1])
        elif kind == "heading_close":
            tok.tag = "div"


# --------------------------------------------------------------------------- #
# Render rules
# --------------------------------------------------------------------------- #


_TABLE_OPEN = (
    f'<div role="table" class="lexilux-table" style="{style.TABLE}">'
    f'<div style="{style.TABLE_GRID}">\n'
)
_CELL_SEPARATOR = f'<span style="{style.CELL_SEPARATOR}"> | </span>'
_TABLE_HTML = {
    "table_open": _TABLE_OPEN,
    "table_close": "</div></div>\n",
    "thead_open": "",
    "thead_close": "",
    "tbody_open": "",
    "tbody_close": "",
    "tr_open": f'<div role="row" style="{style.TABLE_ROW}">',
    "tr_close": "</div>\n",
    "th_close": "</strong></span>",
    "td_close": "</span>",
}


def _render_table(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    return _TABLE_HTML[tokens[idx].type]


def _render_cell_open(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    token = tokens[idx]
    align = _ALIGN_RE.search(str(token.attrGet("style") or ""))
    alignment = align.group(1) if align else "left"
    sep = "" if tokens[idx - 1].type == "tr_open" else _CELL_SEPARATOR
    if token.type == "th_open":
        return f'{sep}<span role="columnheader" style="{style.HEADER_CELL}{alignment}"><strong>'
    return f'{sep}<span role="cell" style="{style.CELL}{alignment}">'


def _render_fence(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip() if token.info else ""
    lang = _INFO_SPLIT_RE.split(info, maxsplit=1)[0] if info else ""
    plain = bool(env.get(ENV_PLAIN_OPEN_FENCE, False)) and not fence_is_closed(token)
    return highlight_code(token.content, lang, highlight=not plain)


def _render_code_block(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    return highlight_code(tokens[idx].content, "", highlight=False)


def _render_live_fence(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip() if token.info else ""
    lang = _INFO_SPLIT_RE.split(info, maxsplit=1)[0] if info else ""
    plain = bool(env.get(ENV_PLAIN_OPEN_FENCE, False)) and not fence_is_closed(token)
    return highlight_code(token.content, lang, highlight=not plain, classes=True)


def _render_live_code_block(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    return highlight_code(tokens[idx].content, "", highlight=False, classes=True)


def _render_hr(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
    return f'<div role="separator" style="{style.RULE}"></div>\n'


def _render_hardbreak(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    return "<div></div>\n"  # a line break that survives sanitisers (<br> does not)


def _render_link_open(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    # Defence in depth: the core rule already removed unsafe links.
    token = tokens[idx]
    href = token.attrGet("href")
    if not isinstance(href, str) or not is_safe_url(href):
        return "<a>"
    return str(self.renderToken(tokens, idx, options, env))


def _render_image(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any
) -> str:
    # Only reachable with inline_images=True (the core rule replaces images).
    token = tokens[idx]
    src = token.attrGet("src")
    alt = self.renderInlineAsText(token.children, options, env)
    if not isinstance(src, str) or not is_safe_image_url(src):
        return escapeHtml(alt)
    token.attrSet("alt", alt)
    return str(self.renderToken(tokens, idx, options, env))


def _make_parser() -> MarkdownIt:
    md = new_parser()
    # Let every link destination *parse*, so that a rejected link still shows
    # just its label; `_safe_links_rule` is the single gate deciding what
    # becomes an href.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.core.ruler.push("lexilux_safe_links", _safe_links_rule)
    md.core.ruler.push("lexilux_export_safe", _export_safe_rule)
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("hr", _render_hr)
    for kind in _TABLE_HTML:
        md.add_render_rule(kind, _render_table)
    md.add_render_rule("th_open", _render_cell_open)
    md.add_render_rule("td_open", _render_cell_open)
    md.add_render_rule("hardbreak", _render_hardbreak)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    return md


def _make_live_parser() -> MarkdownIt:
    """The live view's parser: the same safety rules, standard tags, classes for code.

    A live view is never saved nor exported, so it needs none of the export-safe re-tagging: its
    container's ``jp-RenderedHTMLCommon`` class styles headings, tables and code with the theme,
    and the HTML is a fraction of the size (what a live view sends, it sends 20 times a second).
    """
    md = new_parser()
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.core.ruler.push("lexilux_safe_links", _safe_links_rule)
    md.add_render_rule("fence", _render_live_fence)
    md.add_render_rule("code_block", _render_live_code_block)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    return md


_MD = _make_parser()
_LIVE = _make_live_parser()


def render_markdown(
    text: str,
    *,
    env: MutableMapping[str, Any] | None = None,
    inline_images: bool = False,
    highlight_open_fences: bool = True,
    live: bool = False,
) -> str:
    """Render untrusted markdown to inert, export-safe HTML with inline styles.

    :param env: markdown-it environment; pass the same dict to several calls to
        share link reference definitions between them (used by the incremental
        renderer).
    :param inline_images: emit ``<img>`` (http/https only) instead of links; ``<img>`` is not
        export-safe (nbconvert's sanitiser shows it as text).
    :param highlight_open_fences: when False, a fence without a closing marker
        (still streaming) is rendered as plain text, which is much cheaper.
    :param live: the lighter form for a live view inside JupyterLab (never saved): standard
        tags and class-coloured code, as inert as the other.
    """
    if env is None:
        env = {}
    env[ENV_INLINE_IMAGES] = inline_images
    env[ENV_PLAIN_OPEN_FENCE] = not highlight_open_fences
    return str((_LIVE if live else _MD).render(text, env))
