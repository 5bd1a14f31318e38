"""The appending live view: each finished block leaves the kernel once, only the tail is resent.

A frontend is simulated by :class:`Page`, which applies messages exactly as the widget's
JavaScript does (``lexilux_nb.notebook.live.ESM``); the browser suite runs the real one.
"""

from __future__ import annotations

import json
from typing import Any

from lexilux_nb.notebook.live import ESM, LiveAnswer
from lexilux_nb.notebook.render import IncrementalRenderer

PARAGRAPH = "A line of prose with **bold** words and `code` in it, long enough to matter. "


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Page:
    """What the widget's JavaScript keeps per section: the applied HTML and the commit count."""

    def __init__(self) -> None:
        self.done = {"answer": "", "reasoning": ""}
        self.tail = {"answer": "", "reasoning": ""}
        self.count = {"answer": 0, "reasoning": 0}

    def apply(self, message: dict[str, Any]) -> None:
        for name in ("reasoning", "answer"):
            section = message.get(name)
            if not section:
                continue
            if message["reset"]:
                self.done[name] = section["commit"]
                self.count[name] = section["n"]
            elif section["commit"] and section["n"] == self.count[name] + 1:
                self.done[name] += section["commit"]
                self.count[name] = section["n"]
            self.tail[name] = section["tail"]

    def html(self, name: str = "answer") -> str:
        return self.done[name] + self.tail[name]


def answer(paragraphs: int) -> str:
    return "".join(f"Part {i}: {PARAGRAPH * 3}\n\n" for i in range(paragraphs))


def stream(live: LiveAnswer, clock: Clock, text: str, size: int, per_second: float) -> None:
    for i in range(0, len(text), size):
        clock.now += 1 / per_second
        live.feed(text[i : i + size])
    live.flush()


def make(clock: Clock) -> LiveAnswer:
    return LiveAnswer(appending=True, clock=clock)


def test_the_script_applies_messages_like_the_simulated_page() -> None:
    """The rules Page follows are the ones written in the widget's JavaScript."""
    assert "section.n === part.count + 1" in ESM
    assert "part.done.innerHTML = section.commit" in ESM
    assert 'insertAdjacentHTML("beforeend", section.commit)' in ESM
    assert "part.tail.innerHTML = section.tail" in ESM


def test_the_page_ends_with_exactly_the_rendered_answer() -> None:
    clock = Clock()
    live = make(clock)
    text = answer(40) + "The end, still being written"
    stream(live, clock, text, 7, 1000)
    page = Page()
    for message in live.sent:
        page.apply(message)
    reference = IncrementalRenderer(live=True)
    reference.feed(text)
    assert page.html() == reference.html()
    assert "The end, still being written" in page.tail["answer"]


def test_each_finished_block_is_sent_once_outside_resets() -> None:
    clock = Clock()
    live = make(clock)
    stream(live, clock, answer(60), 5, 1000)
    answers = [m for m in live.sent if "answer" in m]
    numbers = [m["answer"]["n"] for m in answers if m["answer"]["commit"] and not m["reset"]]
    assert numbers == sorted(set(numbers))  # every commit once, in order
    last = max(i for i, m in enumerate(answers) if m["reset"])
    rebuilt = answers[last]["answer"]["commit"] + "".join(
        m["answer"]["commit"] for m in answers[last + 1 :]
    )
    assert rebuilt == live.renderer.sections["answer"].committed_html


def _traffic(kilobytes: int) -> tuple[float, int, float]:
    """(bytes sent per byte of answer, messages, seconds) at 1,000 five-byte chunks a second."""
    clock = Clock()
    live = make(clock)
    text = answer(kilobytes * 1000 // (len(PARAGRAPH) * 3 + 9))
    stream(live, clock, text, 5, 1000)
    sent = sum(len(json.dumps(m, ensure_ascii=False)) for m in live.sent)
    return sent / len(text), len(live.sent), clock.now


def test_traffic_grows_with_the_answer_not_its_square() -> None:
    """The benchmark's setting: the messages stay a few times the answer, whatever its size."""
    small, small_messages, small_seconds = _traffic(20)
    large, large_messages, large_seconds = _traffic(100)
    assert small < 6 and large < 6, (small, large)
    assert large <= small * 1.2  # linear: a 5× longer answer costs no more per byte
    for messages, seconds in ((small_messages, small_seconds), (large_messages, large_seconds)):
        assert messages <= 20 * seconds + 2  # at most 20 updates a second


def test_a_page_that_missed_messages_catches_up_at_the_next_reset() -> None:
    clock = Clock()
    live = make(clock)
    stream(live, clock, answer(200), 5, 1000)
    resets = [i for i, m in enumerate(live.sent) if m["reset"]]
    start, late = resets[0] + 1, resets[1]  # its code loaded late: everything before was lost
    page = Page()
    for message in live.sent[start:late]:
        page.apply(message)
    assert page.count["answer"] == 0 and page.done["answer"] == ""  # gaps are never papered over
    for message in live.sent[late:]:
        page.apply(message)
    reference = IncrementalRenderer(live=True)
    reference.feed(answer(200))
    assert page.html() == reference.html()


def test_resets_come_twice_near_the_start() -> None:
    clock = Clock()
    live = make(clock)
    stream(live, clock, answer(150), 5, 100)  # about 70 s of streaming
    assert clock.now > 64
    resets = [i for i, m in enumerate(live.sent) if m["reset"]]
    assert len(resets) == 2, resets  # at 0.5 s and at 2 s: then only what changed
    times = [i / (len(live.sent) / clock.now) for i in resets]
    assert 0.4 < times[0] < 0.8 and 1.8 < times[1] < 2.5, times


def test_reasoning_is_its_own_section() -> None:
    clock = Clock()
    live = make(clock)
    live.feed("Thinking about it.\n\nStill thinking.", "reasoning")
    live.feed("The answer.")
    live.flush()
    page = Page()
    for message in live.sent:
        page.apply(message)
    assert "Thinking about it." in page.html("reasoning")
    assert "The answer." in page.html("answer")
    assert "Thinking" not in page.html("answer")
