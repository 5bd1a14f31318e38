"""Safe markdown → HTML for untrusted model output.

JupyterLab renders the outputs of the current session as *trusted* and does not
sanitise them, so everything produced here must already be inert:

* raw HTML in the source is never passed through (markdown-it ``html=False``);
* links keep an ``href`` only for ``http:``, ``https:`` and ``mailto:``; anything
  else (``javascript:``, ``data:``, relative links, obfuscated or entity-encoded
  schemes, …) is rendered as its label text only;
* images are rendered as *links* to the image, never as ``<img>`` (an image loads
  on display, without a click, which lets injected content exfiltrate data through
  the URL); ``render_markdown(..., inline_images=True)`` opts into real
  ``<img>`` tags for ``http``/``https`` sources;
* fenced code is highlighted with Pygments using inline styles, so answers look
  the same in nbconvert/GitHub where no stylesheet is available.

Everything here is pure (no IPython), and the parser is created once at import.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import OptionsDict
from pygments import highlight as _pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.styles.default import DefaultStyle
from pygments.token import Error
from pygments.util import ClassNotFound

__all__ = [
    "ANSWER_CSS",
    "CODE_PRE_STYLE",
    "LINK_REL",
    "escape_markdown_html",
    "fence_is_closed",
    "highlight_code",
    "is_safe_image_url",
    "is_safe_url",
    "render_markdown",
    "wrap_answer",
]

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


def is_safe_url(url: str) -> bool:
    """True if ``url`` may be used as a link ``href`` (http, https, mailto only)."""
    return bool(_SAFE_URL_RE.match(url)) and not _URL_FORBIDDEN_RE.search(url)


def is_safe_image_url(url: str) -> bool:
    """True if ``url`` may be used as an image source (http, https only)."""
    return bool(_SAFE_IMAGE_URL_RE.match(url)) and not _URL_FORBIDDEN_RE.search(url)


# --------------------------------------------------------------------------- #
# Code highlighting
# --------------------------------------------------------------------------- #

# The Pygments "default" style draws a red box around ``Error`` tokens; code
# that is still streaming (an unterminated string, say) is full of those.
_AnswerStyle: Any = type(DefaultStyle)(
    "LexiluxAnswerStyle",
    (DefaultStyle,),
    {"styles": {**DefaultStyle.styles, Error: ""}},
)
_FORMATTER: Any = HtmlFormatter(nowrap=True, noclasses=True, style=_AnswerStyle)

CODE_PRE_STYLE = (
    "background:#f6f8fa;color:#1f2328;padding:8px 12px;border-radius:6px;"
    "overflow-x:auto;line-height:1.45;font-size:0.9em;"
    "font-family:SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace"
)
"""Inline style of every ``<pre>`` we emit (works without a stylesheet)."""

HIGHLIGHT_MAX_CHARS = 200_000
"""Code blocks longer than this are shown unhighlighted (bounded Pygments cost)."""

_LANG_RE = re.compile(r"^[A-Za-z0-9_+#.\-]{1,40}$")
_PLAIN_LANGS = frozenset({"text", "txt", "plain", "plaintext", "none", "output", "console"})
_INFO_SPLIT_RE = re.compile(r"[ \t\n\r\f\v]+")


@lru_cache(maxsize=256)
def _lexer_for(lang: str) -> Any:
    """Pygments lexer for a validated language name, or None."""
    if not lang or lang in _PLAIN_LANGS:
        return None
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _valid_lang(lang: str) -> str:
    """``lang`` if it is a plausible language name, else ''."""
    return lang if _LANG_RE.match(lang) else ""


def highlight_code(code: str, lang: str = "", *, highlight: bool = True) -> str:
    """Render a code block as a self-contained ``<pre>`` element.

    Known languages are highlighted with inline styles; unknown (or invalid)
    languages, and ``highlight=False``, fall back to escaped plain text. The
    language name only reaches the ``class`` attribute after validation.
    """
    lang = _valid_lang(lang)
    use_lexer = highlight and lang and len(code) <= HIGHLIGHT_MAX_CHARS
    lexer = _lexer_for(lang.lower()) if use_lexer else None
    body = _pygments_highlight(code, lexer, _FORMATTER) if lexer is not None else escapeHtml(code)
    code_attr = f' class="language-{escapeHtml(lang)}"' if lang else ""
    return (
        f'<pre class="lexilux-code" style="{CODE_PRE_STYLE}"><code{code_attr}>{body}</code></pre>\n'
    )


def _count_lines(content: str) -> int:
    if not content:
        return 0
    return content.count("\n") + (0 if content.endswith("\n") else 1)


def fence_is_closed(token: Token) -> bool:
    """True if a ``fence`` token had an explicit closing fence in the source."""
    if token.map is None:
        return True
    start, end = token.map
    return end - start >= _count_lines(token.content) + 2


# --------------------------------------------------------------------------- #
# markdown-it: rules
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
        else:
            out.append(tok)
    return out


def _safe_links_rule(state: StateCore) -> None:
    """Core rule: drop unsafe links (keep their text), turn images into links."""
    inline_images = bool(state.env.get(ENV_INLINE_IMAGES, False))
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = _sanitize_inline(block.children, inline_images)


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
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # Let every link destination *parse*, so that a rejected link still shows
    # just its label; `_safe_links_rule` is the single gate deciding what
    # becomes an href.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.core.ruler.push("lexilux_safe_links", _safe_links_rule)
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    return md


_MD = _make_parser()


def render_markdown(
    text: str,
    *,
    env: MutableMapping[str, Any] | None = None,
    inline_images: bool = False,
    highlight_open_fences: bool = True,
) -> str:
    """Render untrusted markdown to inert HTML.

    :param env: markdown-it environment; pass the same dict to several calls to
        share link reference definitions between them (used by the incremental
        renderer).
    :param inline_images: emit ``<img>`` (http/https only) instead of links.
    :param highlight_open_fences: when False, a fence without a closing marker
        (still streaming) is rendered as plain text, which is much cheaper.
    """
    if env is None:
        env = {}
    env[ENV_INLINE_IMAGES] = inline_images
    env[ENV_PLAIN_OPEN_FENCE] = not highlight_open_fences
    return str(_MD.render(text, env))


# --------------------------------------------------------------------------- #
# Markdown → markdown (for text/markdown outputs)
# --------------------------------------------------------------------------- #

_BACKTICK_RUN_RE = re.compile(r"`+")
_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*:")
_DEST_NOISE_RE = re.compile(r"[\x00-\x20\x7f\\<]")
_SAFE_DEST_PREFIXES = ("http:", "https:", "mailto:")


def _dest_is_unsafe(rest: str) -> bool:
    """Would a link destination starting at ``rest`` carry a forbidden scheme?

    Conservative: whitespace, control characters, backslashes and ``<`` are
    dropped before looking for a scheme (browsers strip tabs/newlines inside
    URLs, markdown turns ``\\:`` into ``:``), so odd-looking but harmless text
    may be defused too — that only costs the link, never safety.
    """
    cleaned = _DEST_NOISE_RE.sub("", rest[:512]).lower()
    return bool(_SCHEME_RE.match(cleaned)) and not cleaned.startswith(_SAFE_DEST_PREFIXES)


def _preceding_backslashes(s: str, i: int) -> int:
    n = 0
    while i - n - 1 >= 0 and s[i - n - 1] == "\\":
        n += 1
    return n


_NEUTRALISE_RE = re.compile(r"[&<]|!(?=\[)|\](?=[(:])")


def _neutralise(s: str, start: int, end: int) -> str:
    """Escape ``&``/``<`` and defuse links/images in ``s[start:end]``."""
    out: list[str] = []
    pos = start
    for m in _NEUTRALISE_RE.finditer(s, start, end):
        i = m.start()
        c = m.group()
        if c == "&":
            rep = "&amp;"
        elif c == "<":
            rep = "&lt;"
        elif c == "!":
            # image → plain link (same policy as render_markdown)
            rep = "\\!" if _preceding_backslashes(s, i) % 2 == 0 else c
        else:  # `](` or `]:` — defuse when the destination has a bad scheme
            rep = "]\\" if _dest_is_unsafe(s[i + 2 : i + 514]) else c
        out.append(s[pos:i])
        out.append(rep)
        pos = m.end()
    out.append(s[pos:end])
    return "".join(out)


def _literal_spans(group: str) -> list[tuple[int, int]]:
    """Code spans of ``group`` that every markdown reader agrees are code spans.

    Only groups whose backtick runs pair up trivially qualify: every run is
    unescaped, runs pair consecutively with equal lengths, and each pair lies on
    one line with no ``|`` in between (table cells). Then any paragraph, heading
    or table-cell split of the group yields exactly these spans, so leaving
    their contents unescaped cannot let HTML through. Otherwise nothing is
    treated as literal (``<`` shows up as ``&lt;`` inside such code — ugly but
    safe).
    """
    runs = list(_BACKTICK_RUN_RE.finditer(group))
    if not runs or len(runs) % 2:
        return []
    spans: list[tuple[int, int]] = []
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        if _preceding_backslashes(group, a.start()) or _preceding_backslashes(group, b.start()):
            return []
        if len(a.group()) != len(b.group()):
            return []
        inner = group[a.end() : b.start()]
        if "\n" in inner or "|" in inner:
            return []
        spans.append((a.start(), b.end()))
    return spans


def _escape_group(group: str) -> str:
    out: list[str] = []
    pos = 0
    for a, b in _literal_spans(group):
        out.append(_neutralise(group, pos, a))
        out.append(group[a:b])
        pos = b
    out.append(_neutralise(group, pos, len(group)))
    return "".join(out)


def escape_markdown_html(text: str) -> str:
    """Markdown source for a ``text/markdown`` output with raw HTML neutralised.

    * ``<`` and ``&`` are escaped everywhere except inside fenced code blocks and
      inline code spans (where they are literal anyway);
    * link / reference destinations with a scheme other than http, https or
      mailto are defused (the markdown is kept visible as text);
    * images become plain links (``\\![alt](url)``).

    Fenced code blocks are located with a real CommonMark parse (so fences
    inside list items and block quotes are handled); a fence is only trusted
    when it is explicitly closed or is a top-level fence running to the end of
    the text. Fences the parser closed implicitly (end of a list item, …) are
    escaped like ordinary text, because markdown readers disagree about them.
    """
    src = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    lines = src.split("\n")
    literal = [False] * len(lines)  # trusted fence content: emitted verbatim
    fenced = [False] * len(lines)  # any line of a trusted fence (group separator)
    for tok in _MD.parse(src):
        if tok.type != "fence" or tok.map is None:
            continue
        if not (fence_is_closed(tok) or tok.level == 0):
            continue
        start, end = tok.map
        n = _count_lines(tok.content)
        for k in range(start, min(end, len(lines))):
            fenced[k] = True
        for k in range(start + 1, min(start + 1 + n, len(lines))):
            literal[k] = True

    out: list[str] = []
    group: list[str] = []

    def flush() -> None:
        if group:
            out.append(_escape_group("\n".join(group)))
            group.clear()

    for k, line in enumerate(lines):
        if fenced[k]:
            flush()
            out.append(line if literal[k] else _neutralise(line, 0, len(line)))
        elif not line.strip(" \t"):
            flush()
            out.append(line)
        else:
            group.append(line)
    flush()
    return "\n".join(out)


# --------------------------------------------------------------------------- #
# Presentation
# --------------------------------------------------------------------------- #

ANSWER_CSS = """\
.lexilux-answer { line-height: 1.5; overflow-wrap: break-word; }
.lexilux-answer > :first-child { margin-top: 0; }
.lexilux-answer table { border-collapse: collapse; margin: 0.6em 0; display: block;
  overflow-x: auto; }
.lexilux-answer th, .lexilux-answer td { border: 1px solid rgba(127,127,127,0.4);
  padding: 4px 10px; }
.lexilux-answer th { background: rgba(127,127,127,0.12); font-weight: 600; }
.lexilux-answer tr:nth-child(even) td { background: rgba(127,127,127,0.05); }
.lexilux-answer :not(pre) > code { background: rgba(127,127,127,0.15);
  padding: 0.1em 0.35em; border-radius: 4px; font-size: 0.9em; }
.lexilux-answer pre.lexilux-code { margin: 0.6em 0; white-space: pre; }
.lexilux-answer pre.lexilux-code code { background: none; padding: 0; font-size: inherit; }
.lexilux-answer blockquote { margin: 0.6em 0; padding: 0 0.9em;
  border-left: 3px solid rgba(127,127,127,0.4); opacity: 0.85; }
.lexilux-answer details.lexilux-reasoning { margin: 0 0 0.6em 0; opacity: 0.75;
  font-size: 0.92em; }
.lexilux-answer details.lexilux-reasoning > summary { cursor: pointer; }
.lexilux-answer .lexilux-footer { margin-top: 0.5em; font-size: 0.85em; opacity: 0.65; }
"""
"""Stylesheet for rendered answers, scoped under ``.lexilux-answer``."""


def reasoning_details(body_html: str, *, opened: bool = False) -> str:
    """Reasoning as a collapsed section above an answer (styled by :data:`ANSWER_CSS`)."""
    state = " open" if opened else ""
    return (
        f'<details class="lexilux-reasoning"{state}><summary>Reasoning</summary>'
        f'<div class="lexilux-reasoning-body">{body_html}</div></details>'
    )


def wrap_answer(html: str) -> str:
    """Wrap rendered answer HTML in the styled ``.lexilux-answer`` container."""
    return f'<div class="lexilux-answer"><style>{ANSWER_CSS}</style>{html}</div>'
