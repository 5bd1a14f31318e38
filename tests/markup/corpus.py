"""Hostile inputs and inertness checks shared by the markup tests and the browser tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import mistune
from markdown_it import MarkdownIt

from lexilux_nb import ChatHistory

FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "img",
    "svg",
    "math",
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
    "source",
    "textarea",
    "template",
}
URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "xlink:href", "poster", "data"}
SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.\-]*:")


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = TagCollector()
    collector.feed(html)
    collector.close()
    return collector.tags


def _url_scheme(url: str) -> str | None:
    # What a browser would see: it strips control characters and whitespace.
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    m = SCHEME_RE.match(cleaned)
    return m.group()[:-1] if m else None


def assert_inert(
    html: str, *, allow_relative: bool = False, allow_tags: frozenset[str] = frozenset()
) -> None:
    """No event handlers, no active tags, only http/https/mailto URLs."""
    for tag, attrs in parse_tags(html):
        assert tag not in FORBIDDEN_TAGS - allow_tags, f"forbidden <{tag}> in {html!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} in {html!r}"
            if name == "style":
                lowered = (value or "").lower()
                for bad in ("url(", "expression", "javascript", "@import"):
                    assert bad not in lowered, f"style={value!r} in {html!r}"
            if name in URL_ATTRS:
                assert value is not None
                scheme = _url_scheme(value)
                if allow_relative and scheme is None:
                    continue
                assert scheme in {"http", "https", "mailto"}, f"{name}={value!r} in {html!r}"
                assert value.lower().startswith(("http:", "https:", "mailto:")) or (
                    allow_relative
                ), value


XSS_CASES = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<iframe src=https://evil.example></iframe>",
    "<object data=x></object><embed src=x>",
    "<style>body{display:none}</style>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[a](javascript:alert(1))",
    "[a](JaVaScRiPt:alert(1))",
    "[a](  javascript:alert(1) )",
    "[a](<java\tscript:alert(1)>)",
    "[a](java&#x09;script:alert(1))",
    "[a](&#106;avascript:alert(1))",
    "[a](javascript&colon;alert(1))",
    "[a](javascript\\:alert(1))",
    "[a](vbscript:msgbox(1))",
    "[a](file:///etc/passwd)",
    "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[a](data:image/png;base64,iVBORw0KGgo=)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2Zz4=)",
    '![x](https://example.com/a.png"onerror="alert(1))',
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "[a][r]\n\n[r]: javascript:alert(1)",
    "[a]\n\n[a]: <javascript:alert(1)>",
    '[a](https://ok.example "x\\" onmouseover=\\"alert(1)")',
    '```"><img src=x onerror=alert(1)>\ncode\n```',
    "``` javascript:alert(1) onerror=x\ncode\n```",
    "| <script>alert(1)</script> | b |\n|---|---|\n| <img src=x onerror=alert(1)> | c |",
    "> <iframe src=x>",
    "- <img src=x onerror=alert(1)>\n- [x](javascript:alert(1))",
    "`<script>` <b onclick=alert(1)>x</b>",
    "[![x](https://example.com/i.png)](javascript:alert(1))",
    "[a](#fragment) [b](/relative/path) [c](relative.html)",
    "<!-- comment --><?php echo 1 ?><![CDATA[x]]>",
]


ESCAPE_XSS_CASES = [
    *XSS_CASES,
    "- item\n  ```\n- <img src=x onerror=alert(1)>",
    "\\`<img src=x onerror=alert(1)>`",
    "`a\n\n<img src=x onerror=alert(1)>\n\n`",
    "| `a|<img src=x onerror=alert(1)>` | b |\n|---|---|\n| c | d |",
    "` x | ` `<img src=x onerror=alert(1)>`",
    "``` `x`\n```\n<img src=x onerror=alert(1)>\n```",
    "[a](\njavascript:alert(1))",
    "[a]:\n  javascript:alert(1)\n\n[a]",
    "<div>\n```\n</div><img src=x onerror=alert(1)>",
    "~~~\n<script>alert(1)</script>\n~~~\n<script>alert(2)</script>",
    "> ```\n> x\n<img src=x onerror=alert(1)>",
    # entity-encoded or otherwise disguised schemes (issue 17)
    "[a](&#x6A;avascript:alert(1))",
    "[a](&#106;avascript&#58;alert(1))",
    "[a](javascript&#58;alert(1))",
    "[a](<&#106;avascript:alert(1)>)",
    "[a](&amp;#106;avascript:alert(1))",
    "[a]: &#106;avascript:alert(1)\n\n[a]",
    "[a](java\u0000script:alert(1))",
    "[a](%6Aavascript:alert(1))",
    # fences cut off at the end of the text (issue 17)
    "```html\n<img src=x onerror=alert(1)>",
    "~~~~\n<script>alert(1)</script>\n~~~",
    "   ```\n<img src=x onerror=alert(1)>\n",
    "- item\n\n  ```\n  <img src=x onerror=alert(1)>",
]

HOSTILE_FIELDS = [
    "<img src=x onerror=alert(1)>",
    "` <img src=x onerror=alert(1)> `",
    "*x\n\n```\n<script>alert(1)</script>",
    "[a](javascript:alert(1))",
    "x\r\n# heading\n- item",
    "\\`<b>`\\",
    "model\u2028<svg onload=alert(1)>",
]
"""Model names, tool names and footers as a hostile server might send them."""

FUZZ_FRAGMENTS = [
    "\n", "\n\n", "`", "``", "```\n", "~~~\n", "   ```\n", "- ", "1. ", "> ", "    ", "|",
    "|---|---|\n", "\\", "\\`", "[a]", "(", ")", "](", "]:", "!", "![x]", "<", ">", "&#106;",
    "javascript:alert(1)", "JaVaScRiPt:", "data:text/html,x", "https://ok.example",
    "<img src=x onerror=alert(1)>", "<script>", "<a href='javascript:x'>", "<javascript:y>",
    "<div>", "</div>", "<!--", "-->", "x", "*", "#", "\t",
]  # fmt: skip


def permissive_render(markdown: str) -> str:
    """How an unsanitising viewer renders text/markdown: raw HTML on, any URL (markdown-it)."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return str(md.render(markdown))


_MISTUNE = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])


def mistune_render(markdown: str) -> str:
    """nbconvert's markdown renderer (mistune), raw HTML on."""
    return str(_MISTUNE(markdown))


HOSTILE_HISTORIES = {
    # an earlier answer cut off inside a code fence, then a later answer with HTML code (issue 17)
    "cut fence then html code": [
        ("user", "page?", {}),
        ("assistant", "Sure:\n\n```html\n<p>cut off", {"model": "m"}),
        ("user", "again", {}),
        ("assistant", "Fixed:\n\n```\n<img src=x onerror=alert(1)>\n```\n<b>x</b>", {}),
    ],
    # a hostile model name interpolated into the header line
    "hostile model name": [
        ("user", "hi", {}),
        ("assistant", "*answer* `<code>`", {"model": "m*`<img src=x onerror=alert(2)>`*\n\n```"}),
        ("assistant", "<script>alert(3)</script>", {"model": "</em><svg onload=alert(4)>"}),
    ],
    # an entity-encoded javascript: link, and one split by a control character
    "entity-encoded link": [
        ("user", "link?", {}),
        ("assistant", "[x](&#106;avascript&#58;alert(5)) [y](java&#x09;script:alert(6))", {}),
        ("assistant", "[z]: &#x6A;avascript:alert(7)\n\n[z]", {}),
    ],
}
"""Conversations as ``(role, content, metadata)`` whose markdown transcript must stay inert."""


def nested_open_fences_history() -> ChatHistory:
    """Fences left open inside a list and a quote, each followed by raw HTML in a tool result's
    fence (whose opener could close them if they leaked out of their containers)."""
    history = ChatHistory()
    history.add_user("list?")
    history.add_assistant("- step\n\n  ```\n  <b>open")
    history.add_tool_result("c1", "```\n<img src=x onerror=alert(8)>\n```", name="t")
    history.add_assistant("> ```\n> quoted <i>open", model="~~~")
    history.add_tool_result("c2", "~~~\n<svg onload=alert(9)>\n~~~", name="```")
    history.add_assistant("1. x\n   ~~~\n   open")
    history.add_tool_result("c3", "<script>alert(10)</script>", name="t")
    return history
