"""The panel's transcript: an assistant message that only calls tools says which, inert."""

from __future__ import annotations

from lexilux_nb import ChatHistory
from lexilux_nb.client.models import ToolCall
from lexilux_nb.notebook.transcript import Transcript


def test_a_tool_only_assistant_message_names_its_calls_escaped() -> None:
    history = ChatHistory().add_user("What is 2+3?")
    call = ToolCall(id="c1", name="add<img src=x onerror=alert(1)>", arguments='{"a": 2, "b": 3}')
    history.add_assistant(None, tool_calls=[call])
    history.add_tool_result("c1", "5")
    history.add_assistant("The sum is 5.")
    html = Transcript().history(history)
    assert (
        "→ called add&lt;img src=x onerror=alert(1)&gt;({&quot;a&quot;: 2, &quot;b&quot;: 3})"
        in html
    )
    assert "<img" not in html
    assert html.count("lexilux-bubble ") == 4 and "The sum is 5." in html
