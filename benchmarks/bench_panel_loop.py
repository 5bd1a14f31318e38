"""Where should the chat panel's request run? Measured in a real kernel.

A panel streams while the user keeps working. This streams a slow answer (200 chunks, 10 ms apart)
from the fake server in two ways and, meanwhile, runs a cell that is busy for 2 s:

- **kernel loop**: a task on the kernel's own asyncio loop (what ``asyncio.create_task`` in a cell
  gives); - **thread loop**: a coroutine on a dedicated thread running its own event loop.

It reports how many chunks were consumed while the busy cell ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jupyter_client.manager import start_new_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lexilux_nb.testing import FakeOpenAIServer, Reply

SETUP = """
import asyncio, threading, time
from lexilux_nb import Chat
chat = Chat(base_url={url!r}, model="m")
arrivals = []

async def consume():
    async for chunk in chat.astream("go"):
        arrivals.append(time.monotonic())

def on_thread():
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return asyncio.run_coroutine_threadsafe(consume(), loop)
"""
START = {
    "kernel loop": "job = asyncio.get_running_loop().create_task(consume())",
    "thread loop": "job = on_thread()",
}
BUSY = "busy_start = time.monotonic(); time.sleep(2.0); busy_end = time.monotonic()"
REPORT = """
import json
time.sleep(2.5) if not arrivals or arrivals[-1] < busy_end + 1 else None
during = sum(busy_start <= t <= busy_end for t in arrivals)
print(json.dumps({"during": during, "total": len(arrivals)}))
"""


def execute(client, code: str) -> str:
    msg_id = client.execute(code)
    out = []
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def measure(where: str, server: FakeOpenAIServer) -> dict[str, int]:
    server.queue(Reply(chunks=[f"w{i} " for i in range(200)], delay=0.01))
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        execute(client, SETUP.format(url=server.base_url))
        execute(client, START[where])
        execute(client, "time.sleep(0.3)")  # let the stream start
        execute(client, BUSY)
        return json.loads(execute(client, REPORT))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    rows = []
    with FakeOpenAIServer() as server:
        for where in START:
            result = measure(where, server)
            rows.append((where, result))
    print("| where the request runs | chunks consumed during a 2 s busy cell | of |")
    print("|---|---:|---:|")
    for where, r in rows:
        print(f"| {where} | {r['during']} | {r['total']} |")


if __name__ == "__main__":
    main()
