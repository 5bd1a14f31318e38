"""What the live view of ``%%chat`` costs in kernel → browser traffic, measured in a real kernel.

A fake server streams a 20 KB and a 100 KB markdown answer at about 1,000 chunks a second into
``%%chat`` in a real ipykernel; every IOPub message of the cell is read off the socket and its
frames counted, byte for byte. Two live views, side by side in one run:

- **appending**: the anywidget view (``live_append=true``, the default): finished blocks are sent
  once, the unfinished tail again at each update;
- **whole HTML**: the ipywidgets ``HTML`` view (``live_append=false``, the live view before): every
  update resends the whole answer, throttled by a bandwidth budget.

Run: ``python benchmarks/bench_live.py`` (about a minute). The target: at most 10× the answer's size
at 1,000 chunks/s for both sizes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import zmq
from jupyter_client.manager import start_new_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lexilux_nb.testing import FakeOpenAIServer, Reply

SECTION = """## Part {i}

The tide comes in twice a day, pulled by the moon and, less, by the sun. Sailors read the
tables the way farmers read the sky: **carefully**, and with a healthy doubt about `forecasts`.

- high water at the new and the full moon is higher: a *spring* tide
- at the quarter moons the range is smaller: a *neap* tide

```python
def range_m(spring: bool) -> float:
    return 4.2 if spring else 2.1
```

"""


def answer(size: int) -> str:
    text, i = "", 0
    while len(text) < size:
        text += SECTION.format(i=i)
        i += 1
    return text[:size]


def chunks(text: str, n: int) -> list[str]:
    step = max(1, len(text) // n)
    return [text[i : i + step] for i in range(0, len(text), step)]


def measure(client, code: str) -> tuple[int, int, float]:
    """(IOPub bytes, IOPub messages, seconds) of one cell, read as raw frames."""
    socket: zmq.Socket = client.iopub_channel.socket  # raw frames: what really goes over IOPub
    msg_id = client.execute(code)
    started = time.monotonic()
    size = messages = 0
    session = client.session
    while True:
        if not socket.poll(60_000):
            raise TimeoutError("no IOPub message for 60 s")
        frames = socket.recv_multipart(copy=True)
        _, rest = session.feed_identities(frames)
        msg = session.deserialize(rest)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        size += sum(len(f) for f in frames)
        messages += 1
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return size, messages, time.monotonic() - started


def main() -> None:
    sizes = (20_000, 100_000)
    rows = []
    with FakeOpenAIServer(model="bench-model") as server:
        env = {**os.environ, "LEXILUX_BASE_URL": server.base_url, "LEXILUX_MODEL": "bench-model"}
        manager, client = start_new_kernel(kernel_name="python3", env=env)
        try:
            measure(client, "%load_ext lexilux_nb")
            for size in sizes:
                text = answer(size)
                pieces = chunks(text, size // 5)
                for view, setting in (("appending", "true"), ("whole HTML", "false")):
                    measure(client, f"%chat_config live_append={setting}")
                    server.queue(Reply(chunks=pieces, delay=0.001))
                    sent, messages, seconds = measure(client, "%%chat --no-history\nGo.")
                    rate = len(pieces) / seconds
                    rows.append((size, view, sent, messages, rate, sent / len(text.encode())))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    print("| answer | live view | IOPub bytes | messages | chunks/s | bytes per answer byte |")
    print("|---:|---|---:|---:|---:|---:|")
    for size, view, sent, messages, rate, ratio in rows:
        cells = [f"{size // 1000} KB", view, f"{sent:,}", str(messages), f"{rate:,.0f}"]
        print("| " + " | ".join([*cells, f"{ratio:.1f}×"]) + " |")


if __name__ == "__main__":
    main()
