"""How long a call to a trickling server takes, with and without ``deadline_s``.

A loopback server answers with a valid body, one byte every 0.3 s (about 100 s for the whole
answer), so each read is quick and ``timeout_s=5`` never trips. Each of the four paths (sync,
async, streamed or not) is called with ``deadline_s=1`` and ``deadline_s=3``, and without a
deadline but stopped by this script after 10 s (it would otherwise run to the end). Printed as a
markdown table of wall-clock seconds.

Run: ``python benchmarks/bench_deadline.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lexilux_nb.client.chat import Chat  # noqa: E402
from lexilux_nb.client.errors import DeadlineExceededError  # noqa: E402
from tests.client.hostile import hostile_server  # noqa: E402

PATHS = ("call", "stream", "acall", "astream")
GIVE_UP_S = 10.0


def call(chat: Chat, path: str) -> None:
    if path == "call":
        chat("hi")
    elif path == "stream":
        for _ in chat.stream("hi"):
            pass
    elif path == "acall":
        asyncio.run(chat.acall("hi"))
    else:

        async def consume() -> None:
            async for _ in chat.astream("hi"):
                pass

        asyncio.run(consume())


def timed(path: str, deadline_s: float | None) -> str:
    with hostile_server("trickle") as server:
        chat = Chat(
            base_url=server.base_url, model="m", api_key="k", timeout_s=5, deadline_s=deadline_s
        )
        outcome: list[str] = []

        def run() -> None:
            try:
                call(chat, path)
                outcome.append("done")
            except DeadlineExceededError:
                outcome.append("DeadlineExceededError")
            except Exception as exc:  # the server stopped under it
                outcome.append(type(exc).__name__)

        start = time.monotonic()
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(GIVE_UP_S)
        elapsed = time.monotonic() - start
        if worker.is_alive():
            server.stopping.set()
            worker.join(10)
            return f"> {GIVE_UP_S:.0f} s (still reading)"
        chat.close()
    return f"{elapsed:.2f} s ({outcome[0]})"


def main() -> None:
    rows = [(p, timed(p, None), timed(p, 1.0), timed(p, 3.0)) for p in PATHS]
    print("| path | no deadline (timeout_s=5) | deadline_s=1 | deadline_s=3 |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
