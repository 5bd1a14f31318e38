"""Tools against the real embedded model (llama.cpp + SmolLM2-135M): what works, measured.

The embedded server's chat format (``lexilux-chatml``, for prefill) does not show tools to the
model, so a ``%%chat --tools`` turn there is answered as plain text: nothing is called, nothing
crashes, and the turn is recorded like any other. (``benchmarks/bench_local_tools.py`` measures
llama-cpp-python's ``chatml-function-calling`` handler on the same model as well.)
"""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from lexilux_nb.local import stop_local

pytestmark = pytest.mark.local_model


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch):
    for name in ("LEXILUX_BASE_URL", "OPENAI_BASE_URL", "LEXILUX_MODEL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "lexilux_nb")
    yield ip
    ip.run_line_magic("unload_ext", "lexilux_nb")
    stop_local()
    InteractiveShell.clear_instance()


def test_tools_on_the_embedded_model_answer_as_plain_text(shell: InteractiveShell) -> None:
    shell.run_cell(
        "calls = []\ndef add(a: int, b: int) -> int:\n    calls.append(1)\n    return a + b"
    )
    with capture_output():
        result = shell.run_cell(
            "%%chat --tools add --approve always --max-tokens 24 -t 0\nWhat is 2 plus 3?",
            store_history=False,
        )
    assert result.error_in_exec is None
    assert shell.user_ns["calls"] == []  # the model never saw the tool
    history = shell.user_ns["chat_history"]
    assert [m["role"] for m in history.get_messages()] == ["user", "assistant"]
    assert history.get_messages()[1]["content"]
