"""``import lexilux_nb.client`` (and using a history without displaying it) loads no
presentation code: the renderers live in ``lexilux_nb.notebook.history_view``."""

from __future__ import annotations

import json
import subprocess
import sys

PRESENTATION = ("markdown_it", "mistune", "pygments", "lexilux_nb.markup", "lexilux_nb.notebook")

_PROBE = """
import json, sys
import httpx  # a baseline: httpx's own CLI may load pygments when click and rich are installed
before = set(sys.modules)
import lexilux_nb.client
from lexilux_nb.client.history import ChatHistory
h = ChatHistory(system="s")
h.add_user("x")
h.add_assistant("y")
h.to_json(); h.count_tokens(); h.search("x"); h.statistics(); h.truncate_by_rounds(100)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_client_loads_no_markdown_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = json.loads(out)
    assert "lexilux_nb.client.history" in loaded  # the probe really imported the client
    assert [m for m in loaded if m.startswith(PRESENTATION)] == []


def test_rendering_loads_the_view_on_first_use() -> None:
    probe = _PROBE.replace("h.to_json();", "h._repr_html_();")
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )
    assert "lexilux_nb.notebook.history_view" in loaded and "markdown_it" in loaded
