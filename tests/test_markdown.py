"""Safety and rendering tests for lexilux_nb.markdown."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from lexilux_nb.markdown import (
    ANSWER_CSS,
    LINK_REL,
    escape_markdown_html,
    highlight_code,
    is_safe_url,
    render_markdown,
    wrap_answer,
)

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


@pytest.mark.parametrize("src", XSS_CASES)
def test_xss_is_inert(src: str) -> None:
    html = render_markdown(src)
    assert_inert(html)
    # Every URL we emit must be absolute http(s)/mailto (relative links dropped).
    for _tag, attrs in parse_tags(html):
        for name in ("href", "src"):
            if name in attrs:
                assert (attrs[name] or "").lower().startswith(("http:", "https:", "mailto:"))


@pytest.mark.parametrize("src", XSS_CASES)
def test_xss_is_inert_with_inline_images(src: str) -> None:
    html = render_markdown(src, inline_images=True)
    assert_inert(html, allow_tags=frozenset({"img"}))
    for tag, attrs in parse_tags(html):
        if tag == "img":
            assert (attrs["src"] or "").lower().startswith(("http:", "https:"))


def test_raw_html_is_escaped_text() -> None:
    html = render_markdown("<script>alert(1)</script> and <b>bold</b>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "src",
    [
        "[label](javascript:alert(1))",
        "[label](JaVaScRiPt:alert(1))",
        "[label](java&#x09;script:alert(1))",
        "[label](data:text/html,hi)",
        "[label](/relative)",
    ],
)
def test_rejected_link_renders_label_only(src: str) -> None:
    html = render_markdown(src)
    assert html == "<p>label</p>\n"


def test_autolink_with_bad_scheme_is_text() -> None:
    html = render_markdown("<javascript:alert(1)>")
    assert "<a" not in html
    assert "javascript:alert(1)" in html  # shown as text


@pytest.mark.parametrize(
    ("src", "href"),
    [
        ("[x](https://example.com/a?b=1&c=2)", "https://example.com/a?b=1&c=2"),
        ("[x](http://example.com)", "http://example.com"),
        ("[x](mailto:someone@example.com)", "mailto:someone@example.com"),
        ("<https://example.com>", "https://example.com"),
        ("<someone@example.com>", "mailto:someone@example.com"),
        ("[x][r]\n\n[r]: https://example.com/ref", "https://example.com/ref"),
        ("[x](HTTPS://EXAMPLE.COM)", "HTTPS://EXAMPLE.COM"),
    ],
)
def test_safe_links_are_kept_with_rel_and_target(src: str, href: str) -> None:
    links = [attrs for tag, attrs in parse_tags(render_markdown(src)) if tag == "a"]
    assert len(links) == 1
    assert links[0]["href"] == href
    assert links[0]["rel"] == LINK_REL
    assert links[0]["target"] == "_blank"


def test_images_render_as_links_not_img() -> None:
    html = render_markdown('![a cat](https://example.com/cat.png "Cat")')
    tags = parse_tags(html)
    assert [t for t, _ in tags] == ["p", "a"]
    attrs = tags[1][1]
    assert attrs["href"] == "https://example.com/cat.png"
    assert attrs["class"] == "lexilux-image"
    assert attrs["rel"] == LINK_REL
    assert attrs["title"] == "Cat"
    assert "a cat" in html


def test_image_with_non_http_src_is_alt_text_only() -> None:
    assert render_markdown("![a cat](mailto:x@example.com)") == "<p>a cat</p>\n"
    assert render_markdown("![a cat](/cat.png)") == "<p>a cat</p>\n"


def test_image_inside_link_keeps_single_link() -> None:
    html = render_markdown("[![badge](https://example.com/b.svg)](https://example.com)")
    links = [attrs for tag, attrs in parse_tags(html) if tag == "a"]
    assert len(links) == 1
    assert links[0]["href"] == "https://example.com"
    assert "badge" in html


def test_inline_images_option() -> None:
    html = render_markdown("![cat](https://example.com/cat.png)", inline_images=True)
    imgs = [attrs for tag, attrs in parse_tags(html) if tag == "img"]
    assert imgs == [
        {
            "src": "https://example.com/cat.png",
            "alt": "cat",
            "referrerpolicy": "no-referrer",
            "loading": "lazy",
        }
    ]


def test_heading_list_table_strikethrough() -> None:
    src = (
        "# Title\n\n"
        "- one\n- two\n\n"
        "1. first\n2. second\n\n"
        "| a | b |\n|:--|--:|\n| 1 | ~~2~~ |\n\n"
        "Some ~~old~~ *new* **text**.\n"
    )
    html = render_markdown(src)
    tags = [t for t, _ in parse_tags(html)]
    for tag in ("h1", "ul", "ol", "li", "table", "thead", "tbody", "th", "td", "s", "em"):
        assert tag in tags, tag
    assert "<s>old</s>" in html
    assert '<th style="text-align:left">a</th>' in html


def test_python_fence_is_highlighted_with_inline_styles() -> None:
    html = render_markdown("```python\ndef f(x):\n    return '<b>'\n```\n")
    assert html.startswith('<pre class="lexilux-code" style="')
    assert '<code class="language-python">' in html
    assert '<span style="' in html
    assert "class=" not in html.split("<code", 1)[1].split(">", 1)[1]  # no CSS classes
    assert "&lt;b&gt;" in html
    assert "<b>" not in html
    assert_inert(html)


def test_unknown_language_is_escaped_plain_text() -> None:
    html = render_markdown("```nosuchlang\n<b>x</b> & y\n```\n")
    assert '<code class="language-nosuchlang">&lt;b&gt;x&lt;/b&gt; &amp; y\n</code>' in html
    assert "<span" not in html


def test_fence_language_is_validated_before_class() -> None:
    html = render_markdown('```py"><script>x\ncode\n```\n')
    assert "<code>code\n</code>" in html
    assert "script" not in html
    html = render_markdown("```c++ extra words\nint x;\n```\n")
    assert '<code class="language-c++">' in html


def test_open_fence_plain_when_requested() -> None:
    assert "<span" not in render_markdown("```python\nx = 1\n", highlight_open_fences=False)
    assert "<span" in render_markdown("```python\nx = 1\n```\n", highlight_open_fences=False)
    assert "<span" in render_markdown("```python\nx = 1\n")


def test_huge_code_block_is_not_highlighted() -> None:
    html = render_markdown("```python\n" + "x = 1\n" * 40_000 + "```\n")
    assert "<span" not in html
    assert '<code class="language-python">' in html


def test_indented_code_and_inline_code() -> None:
    html = render_markdown("    <b>indented</b>\n\ntext `<i>` here\n")
    assert "&lt;b&gt;indented&lt;/b&gt;" in html
    assert "<code>&lt;i&gt;</code>" in html


def test_highlight_code_direct() -> None:
    assert "<span" in highlight_code("x = 1\n", "python")
    assert "<span" not in highlight_code("x = 1\n", "python", highlight=False)
    assert 'class="language-' not in highlight_code("x\n", "a b<c>")


def test_is_safe_url() -> None:
    assert is_safe_url("https://example.com")
    assert is_safe_url("mailto:a@b.c")
    assert not is_safe_url("javascript:alert(1)")
    assert not is_safe_url(" https://x")
    assert not is_safe_url('https://x/"onerror=1')
    assert not is_safe_url("/relative")


def test_wrap_answer_and_css() -> None:
    wrapped = wrap_answer("<p>hi</p>")
    assert wrapped.startswith('<div class="lexilux-answer"><style>')
    assert wrapped.endswith("<p>hi</p></div>")
    # Every CSS rule is scoped under .lexilux-answer.
    selectors = re.findall(r"(?m)^([^{}\n][^{}]*)\{", ANSWER_CSS)
    assert selectors
    for group in selectors:
        for selector in group.split(","):
            assert selector.strip().startswith(".lexilux-answer"), selector


def test_model_cannot_inject_style_or_close_wrapper() -> None:
    html = wrap_answer(render_markdown("</div><style>*{}</style></style>"))
    assert html.count("<style>") == 1
    assert html.count("</div>") == 1


# --------------------------------------------------------------------------- #
# escape_markdown_html
# --------------------------------------------------------------------------- #


def _permissive_render(markdown: str) -> str:
    """How an unsanitising viewer renders text/markdown: raw HTML on, any URL."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return str(md.render(markdown))


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
]


@pytest.mark.parametrize("src", ESCAPE_XSS_CASES)
def test_escape_markdown_html_is_inert(src: str) -> None:
    escaped = escape_markdown_html(src)
    assert_inert(_permissive_render(escaped), allow_relative=True)


FUZZ_FRAGMENTS = [
    "\n", "\n\n", "`", "``", "```\n", "~~~\n", "   ```\n", "- ", "1. ", "> ", "    ", "|",
    "|---|---|\n", "\\", "\\`", "[a]", "(", ")", "](", "]:", "!", "![x]", "<", ">", "&#106;",
    "javascript:alert(1)", "JaVaScRiPt:", "data:text/html,x", "https://ok.example",
    "<img src=x onerror=alert(1)>", "<script>", "<a href='javascript:x'>", "<javascript:y>",
    "<div>", "</div>", "<!--", "-->", "x", "*", "#", "\t",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_random_fragments_stay_inert(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        src = "".join(rng.choice(FUZZ_FRAGMENTS) for _ in range(rng.randint(1, 30)))
        assert_inert(render_markdown(src))
        assert_inert(_permissive_render(escape_markdown_html(src)), allow_relative=True)


def test_escape_markdown_html_keeps_code_literal() -> None:
    src = (
        "Use `<div>` and `a && b`.\n\n"
        '```html\n<p class="x">&amp;</p>\n```\n\n'
        "1. Run:\n   ```bash\n   make && ./run <input>\n   ```\n"
    )
    escaped = escape_markdown_html(src)
    assert escaped == src
    html = _permissive_render(escaped)
    assert "<code>&lt;div&gt;</code>" in html
    assert "&lt;p class=&quot;x&quot;&gt;&amp;amp;&lt;/p&gt;" in html
    assert "make &amp;&amp; ./run &lt;input&gt;" in html


def test_escape_markdown_html_escapes_outside_code() -> None:
    assert escape_markdown_html("a <b> & c") == "a &lt;b> &amp; c"
    html = _permissive_render(escape_markdown_html("x <script>alert(1)</script>"))
    assert "&lt;script&gt;" in html


def test_escape_markdown_html_defuses_links_and_images() -> None:
    escaped = escape_markdown_html(
        "[bad](javascript:alert(1)) [ok](https://example.com) ![img](https://example.com/i.png)"
    )
    html = _permissive_render(escaped)
    hrefs = [attrs["href"] for tag, attrs in parse_tags(html) if tag == "a"]
    assert hrefs == ["https://example.com", "https://example.com/i.png"]
    assert "<img" not in html
    assert "[bad](javascript:alert(1))" in html  # visible as text


def test_escape_markdown_html_normalises_newlines() -> None:
    assert escape_markdown_html("a\r\nb\rc <") == "a\nb\nc &lt;"
