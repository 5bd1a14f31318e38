"""lexilux_nb.markup.html: untrusted markdown → inert HTML made of export-safe tags only."""

from __future__ import annotations

import random
import re

import pytest

from lexilux_nb.markup import style
from lexilux_nb.markup.html import LINK_REL, is_safe_url, render_markdown

from .corpus import FUZZ_FRAGMENTS, XSS_CASES, assert_inert, parse_tags


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
    assert render_markdown(src) == render_markdown("label")


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
    assert [t for t, _ in tags] == ["div", "a"]
    attrs = tags[1][1]
    assert attrs["href"] == "https://example.com/cat.png"
    assert attrs["class"] == "lexilux-image"
    assert attrs["rel"] == LINK_REL
    assert attrs["title"] == "Cat"
    assert "a cat" in html


def test_image_with_non_http_src_is_alt_text_only() -> None:
    assert render_markdown("![a cat](mailto:x@example.com)") == render_markdown("a cat")
    assert render_markdown("![a cat](/cat.png)") == render_markdown("a cat")


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


def test_structure_uses_only_export_safe_tags() -> None:
    src = (
        "# Title\n\n## Sub *title*\n\n"
        "- one\n- two\n\n"
        "1. first\n2. second\n\n"
        "| a | b | c |\n|:--|--:|:-:|\n| 1 | ~~2~~ | 3 |\n\n"
        "Some ~~old~~ *new* **text**,  \nbroken line.\n\n"
        "---\n\n> quoted\n\n"
        "```python\nx = 1\n```\n"
    )
    html = render_markdown(src)
    tags = [t for t, _ in parse_tags(html)]
    assert set(tags) <= style.EXPORT_SAFE_TAGS, set(tags) - style.EXPORT_SAFE_TAGS
    for tag in ("ul", "ol", "li", "span", "em", "strong", "blockquote", "pre", "code"):
        assert tag in tags, tag
    assert "<style" not in html and "<p>" not in html and "<br" not in html


def test_headings_are_divs_with_a_heading_role_around_strong() -> None:
    html = render_markdown("## Tide *tables*\n")
    tags = parse_tags(html)
    assert tags[0][0] == "div"
    assert tags[0][1]["role"] == "heading" and tags[0][1]["aria-level"] == "2"
    assert "font-size:1.35em" in (tags[0][1]["style"] or "")
    assert "<strong>Tide <em>tables</em></strong></div>" in html  # bold when styles are stripped


def test_tables_are_css_tables_with_aria_roles_and_keep_their_alignment() -> None:
    html = render_markdown("| a | b | c |\n|:--|--:|:-:|\n| 1 | 2 | 3 |\n")
    tags = parse_tags(html)
    assert tags[0][1]["role"] == "table"
    assert [a["role"] for t, a in tags if a.get("role") == "row"] == ["row", "row"]
    cells = [a for t, a in tags if a.get("role") in ("columnheader", "cell")]
    assert [c["role"] for c in cells] == ["columnheader"] * 3 + ["cell"] * 3
    aligns = [(c["style"] or "").rsplit("text-align:", 1)[1] for c in cells]
    assert aligns == ["left", "right", "center"] * 2
    assert "<strong>a</strong>" in html and "<strong>1</strong>" not in html
    assert "display:block;overflow-x:auto" in html  # a wide table scrolls inside itself


def test_table_cells_are_separated_by_pipes_only_once_styles_are_stripped() -> None:
    html = render_markdown("| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n")
    separator = f'<span style="{style.CELL_SEPARATOR}"> | </span>'
    assert html.count(separator) == 4  # between cells, not before the first
    assert style.CELL_SEPARATOR == "display:none"
    bare = re.sub(r' (style|role)="[^"]*"', "", html)
    lines = [re.sub(r"<[^>]+>", "", line) for line in bare.splitlines()]
    assert [line for line in lines if line] == ["a | b | c", "1 | 2 | 3"]


def test_paragraphs_breaks_rules_and_strikethrough() -> None:
    html = render_markdown("one  \ntwo ~~three~~\n\n***\n\nfour\n")
    assert f'<div style="{style.PARAGRAPH}">one<div></div>\ntwo ' in html
    assert f'<span style="{style.STRIKE}">three</span>' in html
    assert f'<div role="separator" style="{style.RULE}"></div>' in html


def test_tight_list_items_have_no_paragraph_wrapper() -> None:
    assert "<li>one</li>" in render_markdown("- one\n- two\n")
    assert f'<li>\n<div style="{style.PARAGRAPH}">one</div>' in render_markdown("- one\n\n- two\n")


def test_python_fence_is_highlighted_with_theme_variables() -> None:
    html = render_markdown("```python\ndef f(x):\n    return '<b>'\n```\n")
    assert html.startswith(f'<pre class="lexilux-code" style="{style.CODE_BLOCK}">')
    assert f'<code class="language-python" style="{style.CODE_INNER}">' in html
    assert "color:var(--lx-k)" in html  # the answer box's palette: the theme's keyword colour
    assert "var(--jp-mirror-editor-keyword-color" in style.TOKEN_PALETTE
    assert "class=" not in html.split("<code", 1)[1].split(">", 1)[1]  # no CSS classes
    assert "&lt;b&gt;" in html
    assert "<b>" not in html
    assert_inert(html)


def test_code_blocks_scroll_sideways_and_sit_on_the_theme_background() -> None:
    html = render_markdown("```\n" + "x" * 500 + "\n```\n")
    pre = parse_tags(html)[0][1]["style"] or ""
    assert "overflow-x:auto" in pre and "white-space:pre" in pre  # JupyterLab wraps <pre>
    assert "background:var(--jp-cell-editor-background," in pre
    assert "color:var(--jp-content-font-color1," in pre  # set together with the background


def test_the_live_form_is_standard_html_with_the_same_safety() -> None:
    source = (
        "## Title\n\nA *b* [x](javascript:alert(1)) <img src=x onerror=alert(2)>\n\n"
        "| a |\n|---|\n| 1 |\n"
    )
    html = render_markdown(source, live=True)
    assert "<h2>Title</h2>" in html and "<table>" in html and "<em>b</em>" in html
    assert "javascript:" not in html and "<img" not in html and "&lt;img" in html
    assert "style=" not in html  # the live view's container styles it (jp-RenderedHTMLCommon)
    assert_inert(html)


def test_unknown_language_is_escaped_plain_text() -> None:
    html = render_markdown("```nosuchlang\n<b>x</b> & y\n```\n")
    assert ">&lt;b&gt;x&lt;/b&gt; &amp; y\n</code>" in html
    assert '<code class="language-nosuchlang"' in html
    assert "<span" not in html


def test_fence_language_is_validated_before_class() -> None:
    html = render_markdown('```py"><script>x\ncode\n```\n')
    assert f'<code style="{style.CODE_INNER}">code\n</code>' in html
    assert "script" not in html
    html = render_markdown("```c++ extra words\nint x;\n```\n")
    assert '<code class="language-c++"' in html


def test_open_fence_plain_when_requested() -> None:
    assert "<span" not in render_markdown("```python\nx = 1\n", highlight_open_fences=False)
    assert "<span" in render_markdown("```python\nx = 1\n```\n", highlight_open_fences=False)
    assert "<span" in render_markdown("```python\nx = 1\n")


def test_huge_code_block_is_not_highlighted() -> None:
    html = render_markdown("```python\n" + "x = 1\n" * 40_000 + "```\n")
    assert "<span" not in html
    assert '<code class="language-python"' in html


def test_indented_code_and_inline_code() -> None:
    html = render_markdown("    <b>indented</b>\n\ntext `<i>` here\n")
    assert "&lt;b&gt;indented&lt;/b&gt;" in html
    assert "<code>&lt;i&gt;</code>" in html  # the host's stylesheet styles inline code


def test_is_safe_url() -> None:
    assert is_safe_url("https://example.com")
    assert is_safe_url("mailto:a@b.c")
    assert not is_safe_url("javascript:alert(1)")
    assert not is_safe_url(" https://x")
    assert not is_safe_url('https://x/"onerror=1')
    assert not is_safe_url("/relative")


def test_model_cannot_inject_style_or_close_wrapper() -> None:
    html = style.wrap_answer(render_markdown("</div><style>*{}</style></style>"))
    assert "<style" not in html
    assert html.count("<div") == html.count("</div>")


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_random_fragments_render_inert_and_export_safe(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        src = "".join(rng.choice(FUZZ_FRAGMENTS) for _ in range(rng.randint(1, 30)))
        html = render_markdown(src)
        assert_inert(html)
        assert {tag for tag, _ in parse_tags(html)} <= style.EXPORT_SAFE_TAGS
