"""Answers in JupyterLab's light, dark and dark high-contrast themes, and in a narrow window.

Contrast is computed in the page (WCAG 2 ratio of each element's own text against its composited
background) for prose, headings, table cells, code tokens, plain code text, the footer, the
progress line, the reasoning block and the history view. Screenshots go to build/e2e/.
"""

from __future__ import annotations

import time

import pytest

from .conftest import notebook_lab, open_notebook, run_all, shot
from .probes import contrast

pytestmark = pytest.mark.e2e

CELLS = [
    "%load_ext lexilux_nb",
    "%%chat\nShow me the theme demo.",
    "%%chat_complete --max-tokens 12 --max-continues 4 --no-history\nTell the long story.",
    "%%chat --reasoning --no-history\nShow me the reasoning demo.",
    "chat_history",
    "from lexilux_nb import ChatPanel\n\nChatPanel()",  # the same history, as chat bubbles
]
PANEL = ".jp-OutputArea-output .lexilux-transcript"
ANSWER = ".jp-OutputArea-output .lexilux-answer"
GROUPS = {
    "prose": f"{ANSWER} > div, {ANSWER} li, {ANSWER} a, {ANSWER} strong, {ANSWER} em",
    "heading": f"{ANSWER} [role=heading] strong",
    "table cells": f"{ANSWER} [role=cell], {ANSWER} [role=columnheader] strong",
    "inline code": f"{ANSWER} :not(pre) > code",
    "code tokens": f"{ANSWER} pre span",
    "plain code": f"{ANSWER} pre code",
    "footer": f"{ANSWER} .lexilux-footer",
    "progress": ".jp-OutputArea-output .lexilux-progress",
    "reasoning": f"{ANSWER} .lexilux-reasoning div",
    "history": ".jp-OutputArea-output .lexilux-history div",
    "panel prose": f"{PANEL} .lexilux-bubble > div, {PANEL} .lexilux-bubble > b, {PANEL} li",
    "panel code": f"{PANEL} pre span, {PANEL} pre code",
    "panel footer": f"{PANEL} .lexilux-bubble > div:last-child",
}
THEMES = {
    "light": "JupyterLab Light",
    "dark": "JupyterLab Dark",
    "dark-high-contrast": "JupyterLab Dark High Contrast",
}


@pytest.fixture(scope="module")
def lab(servers, tmp_path_factory):
    main, _ = servers
    with notebook_lab(tmp_path_factory, "themes", CELLS, main.base_url) as info:
        yield info


@pytest.fixture(scope="module")
def page(browser, lab):
    page = open_notebook(browser, lab, lab["notebook"])
    run_all(page)
    yield page
    page.context.close()


def use_theme(page, theme: str) -> None:
    page.evaluate(
        "(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme
    )
    page.wait_for_function(
        "(theme) => document.body.dataset.jpThemeName === theme", arg=theme, timeout=30_000
    )
    time.sleep(0.8)  # the theme's stylesheet is applied after the attribute changes


def test_every_output_is_there(page) -> None:
    outputs = page.locator(".jp-OutputArea-output")
    history = outputs.locator(".lexilux-history")
    assert history.count() == 1
    # three answers, and the history's two messages rendered as answers are (so checked below too)
    assert history.locator(".lexilux-answer").count() == 2
    assert page.locator(ANSWER).count() == 3 + 2
    assert outputs.locator(".lexilux-progress").count() == 1
    assert page.locator("style").filter(has_text="lexilux").count() == 0  # no <style> of ours
    assert page.locator(f"{PANEL} .lexilux-bubble").count() >= 2  # the panel shows the turns


@pytest.mark.parametrize("name", list(THEMES))
def test_text_contrast_is_at_least_4_5_to_1(page, name: str) -> None:
    use_theme(page, THEMES[name])
    page.locator(".jp-Notebook .jp-Cell").nth(1).scroll_into_view_if_needed()
    shot(page, f"theme-{name}")
    found = contrast(page, GROUPS)
    page.locator(".jp-Notebook .jp-Cell").nth(len(CELLS) - 1).scroll_into_view_if_needed()
    time.sleep(0.5)  # let the scrolled-to cells paint
    shot(page, f"theme-{name}-panel")
    for group, result in found.items():
        assert result["count"] > 0, f"{group}: nothing matched"
    low = {g: r for g, r in found.items() if r["min"] < 4.5}
    assert not low, f"{THEMES[name]}: {low}"


def test_code_tokens_are_coloured_by_the_theme(page) -> None:
    """`my_list = [1, 2, 3]` must not read as "1 2 3": every token has a readable colour."""
    colours = {}
    for name, theme in THEMES.items():
        use_theme(page, theme)
        colours[name] = page.evaluate(
            """() => [...document.querySelectorAll('.lexilux-answer pre span')]
                .filter((s) => /^[0-9]$/.test(s.textContent))
                .map((s) => getComputedStyle(s).color)"""
        )
        assert len(colours[name]) >= 3
    assert colours["light"] != colours["dark"]  # the numbers follow the theme


def test_a_narrow_window_scrolls_code_and_tables_inside_the_answer(page) -> None:
    use_theme(page, THEMES["light"])
    page.set_viewport_size({"width": 600, "height": 900})
    time.sleep(1.0)
    try:
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('.jp-OutputArea-output')].map((out) => ({
                out: [out.scrollWidth, out.clientWidth],
                answers: [...out.querySelectorAll(
                    '.lexilux-answer, .lexilux-history, .lexilux-transcript, .lexilux-bubble')]
                    .map((a) => [a.scrollWidth, a.parentElement.clientWidth]),
                pre: [...out.querySelectorAll('pre')].map((p) => [p.scrollWidth, p.clientWidth]),
            }))"""
        )
        for output in sizes:
            assert output["out"][0] <= output["out"][1] + 1, output
            for scroll, room in output["answers"]:
                assert scroll <= room + 1, output
        outside = page.evaluate(  # nothing reaches past its output area, clipped or not
            """() => [...document.querySelectorAll('.jp-OutputArea-output')].flatMap((out) => {
                const edge = out.getBoundingClientRect().right + 1;
                return [...out.querySelectorAll('.lexilux-bubble, .lexilux-transcript, pre')]
                    .filter((el) => el.getBoundingClientRect().right > edge)
                    .map((el) => el.className + ' ' + Math.round(el.getBoundingClientRect().right));
            })"""
        )
        assert outside == []
        pres = [p for output in sizes for p in output["pre"]]
        assert any(scroll > width for scroll, width in pres), "the long line scrolls in its <pre>"
        shot(page, "theme-narrow")
    finally:
        page.set_viewport_size({"width": 1280, "height": 1000})
