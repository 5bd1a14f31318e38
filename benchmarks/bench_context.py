"""What notebook context costs: characters a ``{df}`` sends beside pandas' repr and the CSV, the
time to describe it, an image part's size and time at the ``image_max_px`` caps, and the cell
recorder's overhead on a trivial cell (the extension loaded vs not, side by side in one run).

``python benchmarks/bench_context.py`` prints markdown tables.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from lexilux_nb.context import describe
from lexilux_nb.context.images import png_of


def median_s(fn: Callable[[], Any], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def frames() -> None:
    print("| DataFrame | `{df}` chars | `str(df)` chars | `to_csv()` chars | describe ms |")
    print("|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for rows in (1_000, 100_000, 1_000_000):
        df = pd.DataFrame(
            {
                "id": np.arange(rows),
                "price": rng.normal(100, 15, rows),
                "city": rng.choice(["Oslo", "Rome", "Lima"], rows),
                "flag": rng.random(rows) > 0.5,
                "note": pd.Series([None, "x"] * (rows // 2)),
            }
        )
        text = describe(df)
        csv = len(df.to_csv(index=False)) if rows <= 100_000 else float("nan")
        ms = median_s(lambda df=df: describe(df), 5) * 1000
        print(f"| {rows:,} × 5 | {len(text):,} | {len(str(df)):,} | {csv:,.0f} | {ms:.1f} |")


def pictures() -> None:
    print("\n| image | cap px | PNG sent | KB | ms |")
    print("|---|---:|---|---:|---:|")
    fig, ax = plt.subplots()
    ax.plot(np.sin(np.linspace(0, 20, 2000)))
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (3000, 4000, 3), np.uint8))
    for label, value in (("Figure 640×480", fig), ("PIL 4000×3000 noise", photo)):
        for cap in (1024, 512):
            png = png_of(value, cap)
            size = Image.open(__import__("io").BytesIO(png)).size
            ms = median_s(lambda value=value, cap=cap: png_of(value, cap), 3) * 1000
            print(f"| {label} | {cap} | {size[0]}×{size[1]} | {len(png) / 1024:.0f} | {ms:.0f} |")
    plt.close(fig)


def recorder() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)

    def cells() -> None:
        with capture_output():
            for _ in range(200):
                shell.run_cell("x = 1", store_history=True)

    print("\n| shell | µs per trivial cell |")
    print("|---|---:|")
    results: dict[str, list[float]] = {"without the extension": [], "with the extension": []}
    for _ in range(5):  # interleaved, so both see the same machine
        results["without the extension"].append(median_s(cells, 1))
        shell.run_line_magic("load_ext", "lexilux_nb")
        results["with the extension"].append(median_s(cells, 1))
        shell.run_line_magic("unload_ext", "lexilux_nb")
    for name, runs in results.items():
        print(f"| {name} | {statistics.median(runs) / 200 * 1e6:.0f} |")


if __name__ == "__main__":
    frames()
    pictures()
    recorder()
