"""lexilux_nb.markup.escape: the ``text/markdown`` part of every output renders inert.

Each case is rendered the way an unsanitising frontend would (raw HTML on, any URL) by two
independent renderers: markdown-it (CommonMark) and mistune (what nbconvert uses). The browser
tests (tests/e2e/test_markdown_parts.py) add marked, inside JupyterLab.
"""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lexilux_nb import ChatHistory, ChatResult
from lexilux_nb.engine import Outcome
from lexilux_nb.markup.escape import answer_markdown, inert_markdown, inert_text
from lexilux_nb.notebook.views import answer_bundle

from .corpus import (
    ESCAPE_XSS_CASES,
    FUZZ_FRAGMENTS,
    HOSTILE_FIELDS,
    HOSTILE_HISTORIES,
    assert_inert,
    mistune_render,
    nested_open_fences_history,
    parse_tags,
    permissive_render,
)

RENDERERS = [permissive_render, mistune_render]


def assert_renders_inert(markdown: str) -> None:
    for render in RENDERERS:
        assert_inert(render(markdown))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


@pytest.mark.parametrize("src", ESCAPE_XSS_CASES)
def test_inert_markdown_is_inert(src: str) -> None:
    assert_renders_inert(inert_markdown(src))


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_random_fragments_stay_inert(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(250):
        src = "".join(rng.choice(FUZZ_FRAGMENTS) for _ in range(rng.randint(1, 30)))
        assert_renders_inert(inert_markdown(src))


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_pieces_stay_inert_when_concatenated(seed: int) -> None:
    """A transcript joins pieces: no piece may change how the next one is read."""
    rng = random.Random(100 + seed)
    payload = "```\n<img src=x onerror=alert(1)>\n```\n"  # its opener could close a fence
    for _ in range(150):
        pieces = [
            "".join(rng.choice(FUZZ_FRAGMENTS) for _ in range(rng.randint(1, 20))) for _ in (1, 2)
        ]
        transcript = "\n\n---\n\n".join(inert_markdown(p) for p in [*pieces, payload])
        assert_renders_inert(transcript)


def test_a_fence_cut_off_at_the_end_is_closed() -> None:
    cut = inert_markdown("Here:\n\n```python\nprint('half")
    assert cut == "Here:\n\n```python\nprint('half\n```\n"
    assert inert_markdown("~~~~\nx\n") == "~~~~\nx\n~~~~\n"
    assert inert_markdown("```\nclosed\n```") == "```\nclosed\n```"  # nothing added


def test_a_cut_off_answer_cannot_turn_the_next_answers_code_into_html() -> None:
    """Issue 17: the earlier answer's open fence used to swallow the next answer's opener."""
    first = "Sure, here is the page:\n\n```\n<p>cut off"
    second = "Fixed:\n\n```\n<img src=x onerror=alert(1)>\n```\n"  # the opener closes a fence
    history = ChatHistory()
    history.add_user("page?")
    history.add_assistant(first)
    history.add_user("again")
    history.add_assistant(second)
    transcript = history._repr_markdown_()
    assert_renders_inert(transcript)
    for render in RENDERERS:  # and the code is still shown as code
        assert "&lt;img src=x onerror=alert(1)&gt;" in render(transcript)


def test_code_stays_literal() -> None:
    src = (
        "Use `<div>` and `a && b`.\n\n"
        '```html\n<p class="x">&amp;</p>\n```\n\n'
        "1. Run:\n   ```bash\n   make && ./run <input>\n   ```\n"
    )
    escaped = inert_markdown(src)
    assert escaped == src
    html = permissive_render(escaped)
    assert "<code>&lt;div&gt;</code>" in html
    assert "&lt;p class=&quot;x&quot;&gt;&amp;amp;&lt;/p&gt;" in html
    assert "make &amp;&amp; ./run &lt;input&gt;" in html


def test_html_outside_code_is_escaped() -> None:
    assert inert_markdown("a <b> & c") == "a &lt;b> &amp; c"
    html = permissive_render(inert_markdown("x <script>alert(1)</script>"))
    assert "&lt;script&gt;" in html


def test_only_literal_safe_destinations_stay_links() -> None:
    escaped = inert_markdown(
        "[bad](javascript:alert(1)) [ok](https://example.com/?a=1&b=2) [mail](mailto:a@b.c) "
        "[rel](/x) [frag](#y) [enc](&#106;avascript:alert(1)) ![img](https://example.com/i.png)"
    )
    for render in RENDERERS:
        html = render(escaped)
        hrefs = [attrs["href"] for tag, attrs in parse_tags(html) if tag == "a"]
        assert hrefs == [
            "https://example.com/?a=1&b=2",
            "mailto:a@b.c",
            "https://example.com/i.png",
        ]
        assert "<img" not in html
        assert "[bad](javascript:alert(1))" in text_of(html)  # visible as text


def test_entity_encoded_schemes_never_become_links() -> None:
    for src in [
        "[a](&#106;avascript:alert(1))",
        "[a](java&#x09;script:alert(1))",
        "[a](javascript&#58;alert(1))",
        "[r]\n\n[r]: &#x6A;avascript:alert(1)",
    ]:
        for render in RENDERERS:
            assert "<a" not in render(inert_markdown(src)), src


def test_newlines_are_normalised() -> None:
    assert inert_markdown("a\r\nb\rc <") == "a\nb\nc &lt;"


@pytest.mark.parametrize("field", HOSTILE_FIELDS)
def test_inert_text_shows_a_field_exactly_as_written(field: str) -> None:
    flat = " ".join(re.split(r"[\r\n\u2028]+", field)).strip()
    for render in RENDERERS:
        html = render(f"*{inert_text(field)}*")
        assert_inert(html)
        assert [tag for tag, _ in parse_tags(html)] == ["p", "em"]  # one line, no other markup
        assert text_of(html).strip() == flat


@pytest.mark.parametrize("field", HOSTILE_FIELDS)
def test_a_hostile_footer_cannot_unescape_the_answer(field: str) -> None:
    answer = "Look: `<img src=x onerror=alert(1)>` and\n\n```\n<script>alert(2)</script>\n```"
    bundle = answer_bundle(Outcome(ChatResult(text=answer), "complete", 1.0, field))
    assert_renders_inert(bundle["text/markdown"])
    assert answer_markdown(answer, field).startswith(inert_markdown(answer))


def test_every_field_of_a_history_transcript_is_escaped() -> None:
    history = ChatHistory(system="Be <b>bold</b> [x](javascript:alert(0))")
    for i, field in enumerate(HOSTILE_FIELDS):
        history.add_user(f"question {i} <img src=x onerror=alert({i})>")
        history.add_assistant(
            f"answer {i} [a](&#106;avascript:alert({i}))\n\n```\nopen fence {i}",
            tool_calls=[
                {
                    "id": field,
                    "type": "function",
                    "function": {"name": field, "arguments": '{"x": "```<b>"}'},
                }
            ],
            model=field,
        )
        history.add_tool_result(field, f"</code><img src=x onerror=alert({i})>", name=field)
    assert_renders_inert(history._repr_markdown_())
    # the .md export is the same inert transcript (it used to be raw: issue 17)
    assert history.to_markdown() == history._repr_markdown_()
    assert_renders_inert(history.to_markdown())


@pytest.mark.parametrize("name", HOSTILE_HISTORIES)
def test_a_saved_markdown_file_of_a_hostile_history_is_inert(name: str, tmp_path: Path) -> None:
    """``ChatHistory.save("x.md")`` / ``%chat_history --save x.md``: a .md file may be opened by
    any viewer, including one rendering raw HTML."""
    history = ChatHistory(system="<script>alert('system')</script>")
    for role, content, meta in HOSTILE_HISTORIES[name]:
        history.add_message(role, content, **meta)
    history.add_assistant("```\n<img src=x onerror=alert('cut')>")  # cut off at the very end
    history.add_tool_result("c", "```\n<img src=x onerror=alert('tool')>\n```", name="t<b>")
    text = history.save(tmp_path / "chat.md").read_text(encoding="utf-8")
    assert text == history.to_markdown()
    assert_renders_inert(text)
    assert_renders_inert(text + "\n" + text)  # two exports pasted together stay inert too
    for render in RENDERERS:
        shown = text_of(render(text))
        assert "<img src=x onerror=alert('tool')>" in shown  # tool output still shown, as text


def test_the_markdown_export_still_reads_like_the_conversation() -> None:
    history = ChatHistory()
    history.add_user("What is `a < b`?")
    history.add_assistant("It is **true** when a & b differ:\n\n```python\nprint(1 < 2)\n```")
    text = history.to_markdown()
    assert "`a < b`" in text and "print(1 < 2)" in text  # code kept verbatim
    assert "a &amp; b" in text  # outside code, & and < are entities a renderer shows as is
    html = permissive_render(text)
    assert "<strong>true</strong>" in html and "a &amp; b differ" in html


def test_chat_result_markdown_repr_is_inert() -> None:
    result = ChatResult(text="```html\n<img src=x onerror=alert(1)>")
    assert_renders_inert(result._repr_markdown_())
    assert result._repr_markdown_().endswith("```\n")


def test_fences_left_open_in_containers_cannot_swallow_a_tool_result() -> None:
    text = nested_open_fences_history().to_markdown()
    assert_renders_inert(text)
    for render in RENDERERS:
        shown = text_of(render(text))
        for payload in ("<img src=x onerror=alert(8)>", "<svg onload=alert(9)>"):
            assert payload in shown  # shown as code, not run
