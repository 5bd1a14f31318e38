"""The scripted fake server the example notebooks run against under test.

``notebooks/conftest.py`` starts it for nbval; ``python -m tests.notebook_server NOTEBOOK...``
re-executes notebooks against it to refresh their stored outputs after an intended change.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lexilux_nb.testing import FakeOpenAIServer, RecordedRequest, Reply

MODEL = "demo-model"

HAIKU = "Waves fold into foam,\nsalt wind carries gull voices,\nthe tide keeps its time."
FRENCH = (
    "Les vagues se plient en écume,\nle vent salé porte la voix des mouettes,\n"
    "la marée garde son temps."
)
OCTOPUS = """## Three facts about octopuses

| Fact | Detail |
|---|---|
| Hearts | An octopus has **three** hearts. |
| Blood | Its blood is blue, thanks to copper-based *hemocyanin*. |
| Arms | Two thirds of its neurons live in its arms. |

```python
arms, hearts = 8, 3
print(f"{arms} arms, {hearts} hearts")
```
"""
STORY = (
    "The lighthouse keeper counted ships the way other people counted sheep. Every night she "
    "wrote their names in a blue notebook: the Marigold, the Persistence, a trawler with no "
    "name at all. One winter a ship appeared that was not in any registry. It carried no "
    "lights, yet its sails glowed faintly, as if lit from inside. She wrote its name as the "
    "wind spelled it against the glass, and in the morning the notebook was full of the "
    "names of every ship that had ever passed, each one finally home."
)
UNSAFE = (
    'Try <img src=x onerror="alert(1)"> and <script>alert(2)</script> '
    "or [this](javascript:alert(3))."
)


def script(request: RecordedRequest) -> Reply:
    """A plausible answer for each prompt used in the example notebooks."""
    users = [m.get("content") or "" for m in request.messages if m.get("role") == "user"]
    last = str(users[-1]) if users else ""
    text = last.lower()
    if any("story" in str(u).lower() for u in users):  # the story and its continuation rounds
        return Reply(text=STORY, resume=True, model=MODEL)
    if "haiku" in text:
        return Reply(text=HAIKU, model=MODEL)
    if "french" in text:
        return Reply(text=FRENCH, model=MODEL)
    if "octopus" in text:
        return Reply(text=OCTOPUS, model=MODEL)
    if "unsafe" in text:
        return Reply(text=UNSAFE, model=MODEL)
    return Reply(text=f"You said: {last}", model=MODEL)


def start() -> FakeOpenAIServer:
    """Start the scripted server and point every kernel started from here at it."""
    server = FakeOpenAIServer(model=MODEL)
    server.default = script
    server.start()
    os.environ["LEXILUX_BASE_URL"] = server.base_url
    os.environ["LEXILUX_MODEL"] = MODEL
    os.environ.pop("LEXILUX_API_KEY", None)
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ["LEXILUX_NB_UNDER_TEST"] = "1"
    return server


def refresh(paths: list[str]) -> None:
    """Re-execute notebooks in place against the scripted server."""
    import nbformat
    from nbclient import NotebookClient

    server = start()
    try:
        for name in paths:
            path = Path(name)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb,
                timeout=120,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
            nb.metadata.pop("widgets", None)  # live widgets are closed; no state to keep
            nbformat.write(nb, path)
            print(f"refreshed {path}")
    finally:
        server.stop()


if __name__ == "__main__":
    refresh(sys.argv[1:])
