"""``%chat_fix``, ``%%chat --fix`` and ``--insert``: the last error and its cell go to the model,
the answer's code comes back as a new cell below (not run); in a shell and in a real kernel."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from lexilux_nb.notebook.fix import MAX_TRACEBACK_CHARS, code_of
from lexilux_nb.testing import FakeOpenAIServer, Reply

from .kernel_client import execute, running_kernel

FIXED = "values = [1, 2, 3]\nfixed_mean = sum(values) / len(values)"
ANSWER = f"Here is the cell:\n\n```python\n{FIXED}\n```\n\n`len` of an empty list is 0."
FAILING = "values = []\nmean = sum(values) / len(values)"


def sent(server: FakeOpenAIServer) -> str:
    chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    return chats[-1].messages[-1]["content"]


def cell(shell, source: str):
    """Run ``source`` as a numbered cell (In[n]), as a notebook would."""
    return shell.run_cell(source, store_history=True)


# -- what the code of an answer is (pure) ------------------------------------------------------


def test_code_of_takes_the_python_blocks_and_leaves_the_prose():
    assert code_of(ANSWER) == FIXED
    two = "```py\na = 1\n```\nthen\n```bash\npip install x\n```\n```\nb = 2\n```"
    assert code_of(two) == "a = 1\n\nb = 2"
    assert code_of("~~~python\nx = {'a': 1}\n~~~") == "x = {'a': 1}"


def test_code_of_uses_other_blocks_when_none_is_python_and_the_text_when_none_is_fenced():
    assert code_of("Run:\n```sql\nSELECT 1;\n```") == "SELECT 1;"
    assert code_of("  print('no fence')\n") == "print('no fence')"
    assert code_of("```python\nprint('```')\n```") == "print('```')"


# -- %chat_fix in a shell ---------------------------------------------------------------------


def test_chat_fix_sends_the_error_and_the_cell_and_inserts_the_fixed_code(shell, server, capsys):
    failed = cell(shell, FAILING)
    assert isinstance(failed.error_in_exec, ZeroDivisionError)
    number = failed.execution_count
    server.queue(Reply(text=ANSWER))

    done = cell(shell, "%chat_fix")

    assert done.error_in_exec is None
    prompt = sent(server)
    assert f"The cell (In[{number}]):\n```python\n{FAILING}\n```" in prompt
    assert "ZeroDivisionError: division by zero" in prompt
    assert 'File "' in prompt and "mean = sum(values) / len(values)" in prompt
    assert "/IPython/core/" not in prompt  # IPython's own frames are left out
    assert shell.rl_next_input == FIXED  # the next cell (terminal: the next prompt)
    assert "fixed_mean" not in shell.user_ns  # put in, not run
    assert "len` of an empty list" in capsys.readouterr().out  # the answer was shown


def test_with_no_error_yet_chat_fix_says_so_and_sends_nothing(shell, server, monkeypatch):
    import sys

    monkeypatch.delattr(sys, "last_value", raising=False)
    with pytest.raises(UsageError, match="no error to fix yet"):
        shell.run_line_magic("chat_fix", "")
    assert server.requests == []


def test_errors_of_the_chat_magics_are_not_the_last_error(shell, server):
    cell(shell, "raise KeyError('the real one')")
    server.queue(Reply(status=400))  # this %chat fails with a ChatError (400: not retried)
    failed_chat = cell(shell, "%chat --no-history hello")
    assert failed_chat.error_in_exec is not None
    cell(shell, "%chat --bogus-option hello")  # a UsageError
    server.clear()
    server.queue(Reply(text="```python\nprint(1)\n```"))
    cell(shell, "%chat_fix --no-history")
    assert "KeyError: 'the real one'" in sent(server)


def test_cell_fix_adds_the_body_and_sends_braces_in_the_source_as_written(shell, server):
    cell(shell, "template = f'{undefined_name}'")
    server.queue(Reply(text=ANSWER))
    ran = cell(shell, "%%chat --fix --no-history\nKeep it short, and use {braces} as written.")
    assert ran.error_in_exec is None
    prompt = sent(server)
    assert "template = f'{undefined_name}'" in prompt
    assert "NameError: name 'undefined_name' is not defined" in prompt
    assert prompt.endswith("Keep it short, and use {braces} as written.")
    assert getattr(shell, "rl_next_input", None) is None  # --fix alone does not insert


def test_no_insert_only_shows_the_answer(shell, server):
    cell(shell, "1/0")
    server.queue(Reply(text=ANSWER))
    cell(shell, "%chat_fix --no-insert please")
    assert sent(server).endswith("please")
    assert getattr(shell, "rl_next_input", None) is None


def test_format_code_insert_without_fix_inserts_any_answer_code(shell, server):
    server.queue(Reply(text="import math\nprint(math.pi)"))
    ran = cell(shell, "%%chat --format code --insert --no-history\nPrint pi.")
    assert ran.error_in_exec is None
    assert shell.rl_next_input == "import math\nprint(math.pi)"


def test_a_failed_answer_inserts_nothing(shell, server):
    cell(shell, "1/0")
    server.queue(Reply(status=400))
    ran = cell(shell, "%chat_fix")
    assert ran.error_in_exec is not None
    assert getattr(shell, "rl_next_input", None) is None


def test_a_long_traceback_keeps_its_end(shell, server):
    cell(shell, "raise ValueError('spam ' * 2000 + 'THE END')")
    server.queue(Reply(text=ANSWER))
    cell(shell, "%chat_fix --no-history")
    prompt = sent(server)
    error = prompt.split("The error:\n```\n", 1)[1]
    assert error.startswith("[… the first ")
    assert error.endswith("spam THE END\n```")
    assert len(error) < MAX_TRACEBACK_CHARS + 200


def test_an_error_from_before_the_extension_was_loaded_is_found_too(shell, server):
    shell.run_line_magic("unload_ext", "lexilux_nb")
    with pytest.raises(ZeroDivisionError):
        exec("1/0")  # not recorded anywhere yet
    cell(shell, "ratio = 1 / 0")  # IPython shows it, and keeps it in sys.last_value
    shell.run_line_magic("load_ext", "lexilux_nb")
    server.queue(Reply(text=ANSWER))
    cell(shell, "%chat_fix --no-history")
    assert "ratio = 1 / 0" in sent(server)
    assert "ZeroDivisionError" in sent(server)


def test_a_syntax_error_after_a_runtime_error_is_the_last_error(shell, server):
    cell(shell, "1/0")
    cell(shell, "print('unclosed'")
    server.queue(Reply(text=ANSWER))
    cell(shell, "%chat_fix --no-history")
    prompt = sent(server)
    assert "print('unclosed'" in prompt and "SyntaxError" in prompt
    assert "ZeroDivisionError" not in prompt


def test_a_syntax_error_is_sent_with_its_source(shell, server):
    cell(shell, "def broken(:\n    pass")
    server.queue(Reply(text=ANSWER))
    cell(shell, "%chat_fix --no-history")
    prompt = sent(server)
    assert "def broken(:" in prompt and "SyntaxError" in prompt


# -- in a real kernel: the set_next_input payload ------------------------------------------------


@pytest.fixture(scope="module")
def kernel():
    with running_kernel() as found:
        yield found


def test_in_a_kernel_chat_fix_returns_the_code_as_a_set_next_input_payload(kernel):
    client, server = kernel
    failed, _ = execute(client, FAILING)
    assert failed["status"] == "error" and failed["ename"] == "ZeroDivisionError"
    server.queue(Reply(text=ANSWER))

    reply, outputs = execute(client, "%chat_fix")

    assert reply["status"] == "ok", outputs
    payloads = [p for p in reply["payload"] if p["source"] == "set_next_input"]
    assert payloads == [{"source": "set_next_input", "text": FIXED, "replace": False}]
    answer = [o for o in outputs if o["type"] == "display_data" and "text/html" in o["data"]]
    assert answer and "len" in answer[-1]["data"]["text/plain"]
    assert f"In[{failed['execution_count']}]" in sent(server)
    _, printed = execute(client, "print('fixed_mean' in globals())")
    assert printed[-1]["text"].strip() == "False"  # inserted, not run


def test_in_a_kernel_no_error_means_a_usage_error_and_no_payload(kernel):
    client, server = kernel
    execute(client, "import sys; sys.last_value = None")
    execute(client, "get_ipython().extension_manager.reload_extension('lexilux_nb')")
    server.clear()
    reply, _ = execute(client, "%chat_fix")
    assert reply["status"] == "error" and reply["ename"] == "UsageError"
    assert "no error to fix yet" in reply["evalue"]
    assert not [p for p in reply["payload"] if p["source"] == "set_next_input"]
    assert not [r for r in server.requests if r.path.endswith("/chat/completions")]
