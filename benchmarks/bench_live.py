"""What the live view of ``%%chat`` costs in kernel → browser traffic, measured in a real kernel.

A fake server streams 20 KB and 100 KB markdown answers (mostly prose; and code-heavy, a code
block in every section) at about 1,000 chunks a second into ``%%chat`` in a real ipykernel; every
IOPub message of the cell is read off the socket and its frames counted, byte for byte: the whole
cell, and the live view alone (the cell minus its saved output). Two live views, side by side in
one run:

- **appending**: the anywidget view (``live_append=true``, the default): finished blocks are sent
  once, the unfinished tail again at each update;
- **whole HTML**: the ipywidgets ``HTML`` view (``live_append=false``, the live view before): every
  update resends the whole answer, throttled by a bandwidth budget.

Run: ``python benchmarks/bench_live.py`` (about two minutes). The target: a live view of at most
10× the answer's size at 1,000 chunks/s for both sizes.
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

PROSE = """## Part {i}

The tide comes in twice a day, pulled by the moon and, less, by the sun. Sailors read the tide
tables the way farmers read the sky: **carefully**, and with a healthy doubt about forecasts. A
harbour master keeps a log of every high water, the wind, and the boats that came in.

At the new and the full moon the range is largest, a *spring* tide; at the quarter moons it is
smallest, a *neap* tide. The difference matters to anyone who moors in shallow water.

- check the `tables` before you sail
- allow for the wind, which can hold the water back

"""
CODE = """## Part {i}

The tide comes in twice a day, pulled by the moon and, less, by the sun. Sailors read the
tables the way farmers read the sky: **carefully**, and with a healthy doubt about `forecasts`.

- high water at the new and the full moon is higher: a *spring* tide
- at the quarter moons the range is smaller: a *neap* tide

```python
def range_m(spring: bool) -> float:
    return 4.2 if spring else 2.1
```

"""


def answer(size: int, section: str = CODE) -> str:
    text, i = "", 0
    while len(text) < size:
        text += section.format(i=i)
        i += 1
    return text[:size]


def chunks(text: str, n: int) -> list[str]:
    step = max(1, len(text) // n)
    return [text[i : i + step] for i in range(0, len(text), step)]


def measure(client, code: str) -> tuple[int, int, float, int]:
    """(IOPub bytes, IOPub messages, seconds, bytes of the saved output) of one cell."""
    socket: zmq.Socket = client.iopub_channel.socket  # raw frames: what really goes over IOPub
    msg_id = client.execute(code)
    started = time.monotonic()
    size = messages = saved = 0
    session = client.session
    while True:
        if not socket.poll(60_000):
            raise TimeoutError("no IOPub message for 60 s")
        frames = socket.recv_multipart(copy=True)
        _, rest = session.feed_identities(frames)
        msg = session.deserialize(rest)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        frame_bytes = sum(len(f) for f in frames)
        size += frame_bytes
        messages += 1
        if msg["msg_type"] == "display_data" and "text/html" in msg["content"]["data"]:
            saved += frame_bytes  # the answer as the notebook keeps it
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return size, messages, time.monotonic() - started, saved


def main() -> None:
    sizes = (20_000, 100_000)
    rows = []
    with FakeOpenAIServer(model="bench-model") as server:
        env = {**os.environ, "LEXILUX_BASE_URL": server.base_url, "LEXILUX_MODEL": "bench-model"}
        manager, client = start_new_kernel(kernel_name="python3", env=env)
        try:
            measure(client, "%load_ext lexilux_nb")
            for kind, section in (("prose", PROSE), ("code-heavy", CODE)):
                for size in sizes:
                    text = answer(size, section)
                    pieces = chunks(text, size // 5)
                    for view, setting in (("appending", "true"), ("whole HTML", "false")):
                        measure(client, f"%chat_config live_append={setting}")
                        server.queue(Reply(chunks=pieces, delay=0.001))
                        sent, messages, seconds, saved = measure(client, "%%chat --no-history\nGo.")
                        n = len(text.encode())
                        row = (f"{size // 1000} KB {kind}", view, sent, messages)
                        rows.append((*row, len(pieces) / seconds, sent / n, (sent - saved) / n))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    print(
        "| answer | live view | IOPub bytes | messages | chunks/s "
        "| whole cell, × answer | live view alone, × answer |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, view, sent, messages, rate, whole, live in rows:
        cells = [name, view, f"{sent:,}", str(messages), f"{rate:,.0f}"]
        print("| " + " | ".join([*cells, f"{whole:.1f}×", f"{live:.1f}×"]) + " |")


if __name__ == "__main__":
    main()
