"""A line magic prompt ending in "?" is a question for the model, not IPython's help syntax."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from lexilux_nb.notebook.extension import route_questions


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "lexilux_nb")
    yield ip
    ip.run_line_magic("unload_ext", "lexilux_nb")
    InteractiveShell.clear_instance()


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%chat What is Python?", "get_ipython().run_line_magic('chat', 'What is Python?')\n"),
        ("%chat -m x why? ok?", "get_ipython().run_line_magic('chat', '-m x why? ok?')\n"),
        ("%chat_complete more?", "get_ipython().run_line_magic('chat_complete', 'more?')\n"),
        (
            "x = 1\n%chat is {x} odd?\n",
            "x = 1\nget_ipython().run_line_magic('chat', 'is {x} odd?')\n",
        ),
    ],
)
def test_questions_reach_the_magic(shell, cell: str, expected: str) -> None:
    assert shell.transform_cell(cell) == expected


def test_help_on_the_magic_and_on_objects_still_works(shell) -> None:
    assert shell.transform_cell("%chat?") == "get_ipython().run_line_magic('pinfo', '%chat')\n"
    assert shell.transform_cell("len?") == "get_ipython().run_line_magic('pinfo', 'len')\n"


def test_cell_magic_bodies_are_untouched() -> None:
    lines = ["%%chat\n", "%chat inside?\n"]
    assert route_questions(lines) == lines


def test_unload_restores_ipython_behaviour(shell) -> None:
    shell.run_line_magic("unload_ext", "lexilux_nb")
    assert "pinfo" in shell.transform_cell("%chat What is Python?")
    shell.run_line_magic("load_ext", "lexilux_nb")
