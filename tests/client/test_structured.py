"""Structured output against the real fake server: four schema kinds, both response formats,
a retry after a validation error, a cut answer continued before parsing; sync and async."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, TypedDict

import pydantic
import pytest

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import ValidationError
from lexilux_nb.client.structured import Extracted, ExtractError, as_schema, strict_schema
from lexilux_nb.testing import FakeOpenAIServer, Reply


class PersonModel(pydantic.BaseModel):
    name: str
    age: int
    email: str | None = None


@dataclasses.dataclass
class PersonData:
    name: str
    age: int


class PersonDict(TypedDict):
    name: str
    age: int


PERSON_SCHEMA = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
ADA = '{"name": "Ada", "age": 36}'
KINDS = {
    "pydantic": (PersonModel, PersonModel(name="Ada", age=36)),
    "dataclass": (PersonData, PersonData("Ada", 36)),
    "typeddict": (PersonDict, {"name": "Ada", "age": 36}),
    "json-schema": (PERSON_SCHEMA, {"name": "Ada", "age": 36}),
}


def extract(asynchronous: bool, chat: Chat, *args: Any, **kw: Any) -> Any:
    if asynchronous:
        return asyncio.run(chat.aextract(*args, **kw))
    return chat.extract(*args, **kw)


both = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


@both
@pytest.mark.parametrize("kind", list(KINDS))
def test_four_schema_kinds_with_json_schema(kind: str, asynchronous: bool) -> None:
    schema, expected = KINDS[kind]
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(text=ADA))
        chat = Chat(base_url=server.base_url, model="m", provider="openai")
        value = extract(asynchronous, chat, "Who wrote the first program?", schema)
        body = server.requests[0].json
    assert value == expected
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] in ("PersonModel", "PersonData", "PersonDict", "Person")
    assert fmt["json_schema"]["strict"] is True
    sent = fmt["json_schema"]["schema"]
    assert sent["additionalProperties"] is False
    assert set(sent["required"]) == set(sent["properties"])  # strict: every property listed
    assert body["messages"] == [{"role": "user", "content": "Who wrote the first program?"}]


@both
def test_json_mode_with_instructions_where_json_schema_is_unknown(asynchronous: bool) -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(text="```json\n" + ADA + "\n```"))  # a fence is tolerated
        chat = Chat(base_url=server.base_url, model="m")  # 127.0.0.1: a generic server
        out = extract(asynchronous, chat, "Who?", PersonModel, return_result=True)
        body = server.requests[0].json
    assert isinstance(out, Extracted)
    assert out.value == PersonModel(name="Ada", age=36)
    assert out.result.text.startswith("```json") and out.attempts == 1
    assert body["response_format"] == {"type": "json_object"}
    instruction = body["messages"][-1]
    assert instruction["role"] == "user" and "JSON schema" in instruction["content"]
    assert '"age"' in instruction["content"]


def test_llamacpp_gets_json_schema() -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(text=ADA))
        chat = Chat(base_url=server.base_url, model="m", provider="llamacpp")
        assert chat.extract("Who?", PersonData) == PersonData("Ada", 36)
        assert server.requests[0].json["response_format"]["type"] == "json_schema"


@both
def test_a_validation_error_is_shown_to_the_model_once(asynchronous: bool) -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(text='{"name": "Ada", "age": "old"}'), Reply(text=ADA))
        chat = Chat(base_url=server.base_url, model="m", provider="openai")
        out = extract(asynchronous, chat, "Who?", PersonModel, return_result=True)
        second = server.requests[1].messages
    assert out.value.age == 36 and out.attempts == 2
    assert second[1] == {"role": "assistant", "content": '{"name": "Ada", "age": "old"}'}
    assert second[2]["role"] == "user"
    assert "age: Input should be a valid integer" in second[2]["content"]


@both
def test_still_invalid_after_the_retry_raises_with_the_errors(asynchronous: bool) -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(text="not json"), Reply(text='{"name": "Ada"}'))
        chat = Chat(base_url=server.base_url, model="m")
        with pytest.raises(ExtractError) as caught:
            extract(asynchronous, chat, "Who?", PERSON_SCHEMA)
        assert len(server.requests) == 2
    assert caught.value.errors[0].startswith("it is not JSON")
    assert "'age' is a required property" in caught.value.errors[1]
    assert caught.value.result.text == '{"name": "Ada"}'


@both
def test_a_cut_answer_is_continued_before_parsing(asynchronous: bool) -> None:
    person = {"name": "Ada Lovelace", "age": 36, "email": "ada@example.org"}
    text = json.dumps(person, indent=1)  # many "tokens"
    with FakeOpenAIServer(model="m") as server:
        server.default = Reply(text=text, resume=True)
        chat = Chat(base_url=server.base_url, model="m")
        out = extract(asynchronous, chat, "Who?", PersonModel, max_tokens=4, return_result=True)
        requests = len(server.requests)
    assert out.value == PersonModel(**person)
    assert out.result.continues >= 2 and requests == out.result.continues + 1
    assert out.attempts == 1


def test_bad_input_is_refused_before_sending() -> None:
    with FakeOpenAIServer(model="m") as server:
        chat = Chat(base_url=server.base_url, model="m")
        with pytest.raises(ValidationError, match="response_format itself"):
            chat.extract("x", PersonModel, response_format={"type": "json_object"})
        with pytest.raises(ValidationError, match="schema must be"):
            chat.extract("x", int)
        with pytest.raises(ValidationError, match="mode must be"):
            chat.extract("x", PersonModel, mode="xml")
        with pytest.raises(ValidationError, match="retries"):
            chat.extract("x", PersonModel, retries=-1)
        assert server.requests == []


def test_strict_schema_closes_every_object() -> None:
    class Inner(pydantic.BaseModel):
        a: int = 1

    class Outer(pydantic.BaseModel):
        inner: Inner
        tags: list[Inner] = []
        note: str | None = None

    strict = strict_schema(as_schema(Outer).json_schema)
    assert strict["required"] == ["inner", "tags", "note"]
    assert strict["additionalProperties"] is False
    assert strict["$defs"]["Inner"]["required"] == ["a"]
    assert strict["$defs"]["Inner"]["additionalProperties"] is False
    assert "default" not in strict["properties"]["note"]
    tricky = {"type": "object", "properties": {"properties": {"type": "string"}, "default": {}}}
    assert strict_schema(tricky)["properties"] == {"properties": {"type": "string"}, "default": {}}
    assert strict_schema(tricky)["required"] == ["properties", "default"]
