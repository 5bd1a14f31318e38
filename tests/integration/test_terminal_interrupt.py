"""Terminal IPython, for real: Ctrl-C during ``%chat`` prints the partial answer, then 3 lines."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

from lexilux_nb.testing import FakeOpenAIServer, Reply

WORDS = " ".join(f"word{i}" for i in range(400))
PROMPT = re.compile(r"In \[\d+\]: $")


class Terminal:
    """IPython on a pseudo-terminal; ``read_until`` collects what it prints."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--simple-prompt"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.output = ""

    def read_until(self, pattern: re.Pattern[str] | str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = (
                pattern.search(self.output)
                if isinstance(pattern, re.Pattern)
                else pattern in self.output
            )
            if found:
                return self.output
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {pattern!r}; got:\n{self.output[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                self.output += os.read(self.master, 65536).decode("utf-8", "replace")

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.master)


def test_ctrl_c_during_chat_prints_the_partial_answer_then_at_most_three_lines(tmp_path) -> None:
    with FakeOpenAIServer(model="terminal-model") as server:
        server.default = Reply(text=WORDS, delay=0.02)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LEXILUX_"))},
            "LEXILUX_BASE_URL": server.base_url,
            "LEXILUX_MODEL": "terminal-model",
            "IPYTHONDIR": str(tmp_path / "ipython"),
            "TERM": "dumb",
        }
        terminal = Terminal(env)
        try:
            terminal.read_until(PROMPT)
            terminal.send("%load_ext lexilux_nb")
            terminal.read_until(re.compile(r"In \[2\]: $"))
            terminal.send("%chat Tell me a long story")
            terminal.read_until("word30 ")
            terminal.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
            output = terminal.read_until(re.compile(r"In \[3\]: $"))
        finally:
            terminal.close()
    shown = output.split("Tell me a long story", 1)[1].replace("\r", "")
    answer_end = shown.rindex("word")
    after = shown[answer_end:].split("\n", 1)[1]
    lines = [line for line in after.splitlines() if line.strip() and not PROMPT.search(line)]
    assert 1 <= len(lines) <= 3, lines
    assert lines[0].startswith("— terminal-model") and lines[0].endswith("stopped")
    assert "Interrupted" in after and "_chat" in after
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "word399" not in output
