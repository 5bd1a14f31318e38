"""``%%chat --schema NAME -o VAR``: the request asks for the schema, the value is validated."""

from __future__ import annotations

import json
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from lexilux_nb.testing import FakeOpenAIServer, Reply

SETUP = """
import dataclasses
import pydantic

class Person(pydantic.BaseModel):
    name: str
    age: int

@dataclasses.dataclass
class City:
    name: str
    people: int

point = {"title": "Point", "type": "object",
         "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
         "required": ["x", "y"]}
"""


def test_a_pydantic_model_in_json_mode_fills_the_variable(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any
) -> None:
    run(SETUP)
    server.queue(Reply(text='{"name": "Ada", "age": 36}'))
    ran = run("%%chat --schema Person -o person\nWho wrote the first program?")
    assert ran.error is None, ran.everything
    person = shell.user_ns["person"]
    assert type(person).__name__ == "Person" and (person.name, person.age) == ("Ada", 36)
    sent = server.requests[-1]
    assert sent.json["response_format"] == {"type": "json_object"}  # a generic server
    system = sent.messages[0]
    assert system["role"] == "system" and '"age"' in system["content"]
    assert shell.user_ns["_chat"].text == '{"name": "Ada", "age": 36}'
    assert shell.user_ns["chat_history"][-1]["content"] == '{"name": "Ada", "age": 36}'


def test_a_provider_with_json_schema_gets_the_strict_schema(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any
) -> None:
    run(SETUP)
    run("%chat_config provider=openai")
    server.queue(Reply(text='{"name": "Lyon", "people": 520000}'))
    ran = run("%%chat --schema City -o city\nA French city?")
    assert ran.error is None, ran.everything
    assert shell.user_ns["city"].people == 520000
    fmt = server.requests[-1].json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "City"
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert all(
        m["role"] != "system" or "JSON schema" not in m["content"]
        for m in server.requests[-1].messages
    )


def test_a_json_schema_dict_and_a_mismatch_named(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any
) -> None:
    run(SETUP)
    server.queue(Reply(text='{"x": 1, "y": 2.5}'))
    assert run("%%chat --schema point -o p\nA point?").error is None
    assert shell.user_ns["p"] == {"x": 1, "y": 2.5}

    server.queue(Reply(text='{"name": "Ada"}'))
    ran = run("%%chat --schema Person -o who\nWho?")
    assert ran.error is not None
    text = str(ran.error)
    assert "does not match Person" in text and "age" in text and "_chat" in text
    assert "who" not in shell.user_ns
    assert json.loads(shell.user_ns["_chat"].text) == {"name": "Ada"}


def test_an_unknown_schema_sends_nothing(
    server: FakeOpenAIServer, shell: InteractiveShell, run: Any
) -> None:
    before = len(server.requests)
    ran = run("%%chat --schema Nobody -o x\nHello?")
    assert ran.error is not None and "no 'Nobody' in the notebook" in str(ran.error)
    run("not_a_schema = 5")
    ran = run("%%chat --schema not_a_schema\nHello?")
    assert ran.error is not None and "pydantic model" in str(ran.error)
    assert len(server.requests) == before
