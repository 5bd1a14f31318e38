"""The tool loop against the real fake server: runs, denials, errors, bad args, round limit."""

from __future__ import annotations

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.toolloop import run_tools
from lexilux_nb.client.tools import from_function
from lexilux_nb.testing import FakeOpenAIServer, Reply


def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


def boom() -> None:
    raise RuntimeError("kaput")


def test_schema_from_signature() -> None:
    spec = from_function(add).spec
    assert spec.description == "Add two numbers."
    assert spec.parameters["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert spec.parameters["required"] == ["a"]


def _call(i: str, name: str, args: str) -> dict[str, str]:
    return {"id": i, "name": name, "arguments": args}


def test_parallel_raise_malformed_and_answer() -> None:
    with FakeOpenAIServer(model="m") as server:
        server.queue(
            Reply(
                tool_calls=[
                    _call("c1", "add", '{"a": 2}'),
                    _call("c2", "boom", "{}"),
                    _call("c3", "add", "{bad"),
                ]
            ),
            Reply(text="done"),
        )
        chat = Chat(base_url=server.base_url, model="m")
        out = run_tools(chat, "go", [add, boom], approve="always")
        tool_msgs = [m for m in server.requests[1].messages if m["role"] == "tool"]
    assert str(out) == "done"
    assert [c.id for c in out.calls] == ["c1", "c2", "c3"]
    assert tool_msgs[0]["content"] == "3"
    assert "RuntimeError: kaput" in tool_msgs[1]["content"]
    assert "not valid JSON" in tool_msgs[2]["content"]
    assert [m["role"] for m in out.messages] == ["assistant", "tool", "tool", "tool"]


def test_never_denies_and_nothing_runs() -> None:
    ran: list[int] = []

    def side(x: int) -> int:
        ran.append(x)
        return x

    with FakeOpenAIServer(model="m") as server:
        server.queue(Reply(tool_calls=[_call("c1", "side", '{"x": 1}')]), Reply(text="ok"))
        out = run_tools(Chat(base_url=server.base_url, model="m"), "go", [side], approve="never")
    assert ran == []
    assert out.messages[1]["content"].startswith("denied")


def test_edit_and_round_limit() -> None:
    with FakeOpenAIServer(model="m") as server:
        server.default = Reply(tool_calls=[_call("c", "add", '{"a": 1}')])
        out = run_tools(
            Chat(base_url=server.base_url, model="m"),
            "go",
            [add],
            approve=lambda call, args: {"a": 10, "b": 0},
            max_tool_rounds=2,
        )
    assert out.rounds_exhausted
    assert out.messages[1]["content"] == "10"
    assert len(out.calls) == 3  # the third round's call is answered "not run", never run
    assert out.messages[-1]["content"].startswith("not run")
    assert out.tool_calls == []


def test_async_driver_same_messages() -> None:
    import asyncio

    from lexilux_nb.client.toolloop import arun_tools

    with FakeOpenAIServer(model="m") as server:
        server.queue(
            Reply(tool_calls=[_call("c1", "add", '{"a": 2}'), _call("c2", "boom", "{}")]),
            Reply(text="done"),
        )
        chat = Chat(base_url=server.base_url, model="m")
        out = asyncio.run(arun_tools(chat.acall, "go", [add, boom], approve="always"))
    assert str(out) == "done"
    assert next(m.get("content") for m in out.messages[1:]) == "3"
    assert "kaput" in out.messages[2]["content"]


# -- schemas, docstrings, validation ---------------------------------------------------------

import dataclasses  # noqa: E402
import enum  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from typing import Any, Literal, Optional, TypedDict  # noqa: E402

import pydantic  # noqa: E402
import pytest  # noqa: E402

from lexilux_nb.client.errors import ValidationError  # noqa: E402
from lexilux_nb.client.tooldoc import parse_docstring  # noqa: E402
from lexilux_nb.client.tools import ToolArgumentsError, as_tools  # noqa: E402


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Box:
    w: int
    h: int = 1


class Point(pydantic.BaseModel):
    x: float
    y: float


class Line(pydantic.BaseModel):
    start: Point
    end: Point


class Size(TypedDict):
    width: int


def draw(
    line: Line,
    box: Box,
    color: Color,
    size: Size,
    mode: Literal["fast", "slow"] = "fast",
    note: Optional[str] = None,  # noqa: UP045 - the spelling under test
    tags: list[str] | None = None,
) -> str:
    """Draw a line in a box.

    Args:
        line: where to draw
        box (Box): the frame,
            on two lines
        color: which colour

    Returns:
        what was drawn
    """
    return f"{line.start.x}->{line.end.x} in {box.w}x{box.h} {color.value} {size['width']} {mode}"


def test_schema_of_models_dataclasses_enums_literals_optionals() -> None:
    spec = from_function(draw).spec
    params = spec.parameters
    assert spec.description == "Draw a line in a box."
    assert params["required"] == ["line", "box", "color", "size"]
    props = params["properties"]
    assert props["line"]["description"] == "where to draw"
    assert props["line"]["properties"]["start"] == {"$ref": "#/$defs/Point"}
    assert params["$defs"]["Point"]["required"] == ["x", "y"]  # refs resolve from the root
    assert props["box"]["description"] == "the frame, on two lines"
    assert props["box"]["required"] == ["w"]
    assert props["color"]["enum"] == ["red", "blue"]
    assert props["size"]["properties"] == {"width": {"title": "Width", "type": "integer"}}
    assert props["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["tags"]["anyOf"][0] == {"items": {"type": "string"}, "type": "array"}
    json.dumps(spec.to_dict(), allow_nan=False)


def test_arguments_are_validated_and_converted() -> None:
    tool = from_function(draw)
    args = tool.validate(
        {
            "line": {"start": {"x": 0, "y": 0}, "end": {"x": "2.5", "y": 1}},
            "box": {"w": 3},
            "color": "blue",
            "size": {"width": 7},
        }
    )
    assert isinstance(args["line"], Line) and args["line"].end.x == 2.5
    assert args["box"] == Box(3, 1)
    assert args["color"] is Color.BLUE
    assert tool(**args) == "0.0->2.5 in 3x1 blue 7 fast"
    with pytest.raises(ToolArgumentsError) as caught:
        tool.validate({"line": {"start": {"x": 0}}, "box": {}, "color": "green", "mode": "x"})
    message = str(caught.value)
    assert "missing required argument(s): size" in message
    assert "line.start.y: Field required" in message and "line.end: Field required" in message
    assert "box.w: Field required" in message
    assert "color: Input should be 'red' or 'blue'" in message
    assert "mode: Input should be 'fast' or 'slow'" in message


def test_a_model_argument_reaches_the_function_through_the_loop() -> None:
    got: list[Any] = []

    def place(point: Point) -> str:
        got.append(point)
        return "placed"

    with FakeOpenAIServer(model="m") as server:
        server.queue(
            Reply(tool_calls=[_call("c1", "place", '{"point": {"x": 1, "y": "2"}}')]),
            Reply(tool_calls=[_call("c2", "place", '{"point": {"x": 1}}')]),
            Reply(text="done"),
        )
        out = Chat(base_url=server.base_url, model="m")("go", tools=[place], approve="always")
    assert got == [Point(x=1, y=2)]
    assert out.messages[1]["content"] == "placed"
    assert out.messages[3]["content"] == (
        "error: the arguments are invalid: point.y: Field required"
    )


@pytest.mark.parametrize(
    "doc",
    [
        """Find a city.

        Args:
            name (str): the city's name
            limit: at most this many,
                counted from the top
        """,
        """Find a city.

        Parameters
        ----------
        name : str
            the city's name
        limit : int, optional
            at most this many,
            counted from the top

        Returns
        -------
        list
        """,
        """Find a city.

        :param name: the city's name
        :param int limit: at most this many,
            counted from the top
        :returns: the cities
        """,
    ],
    ids=["google", "numpy", "sphinx"],
)
def test_docstring_styles(doc: str) -> None:
    description, params = parse_docstring(inspect.cleandoc(doc))
    assert description == "Find a city."
    assert params == {"name": "the city's name", "limit": "at most this many, counted from the top"}


def test_bad_tools_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="name it with"):
        from_function(lambda: 1)
    assert from_function(lambda: 1, name="one").name == "one"
    with pytest.raises(ValidationError, match="two tools are named add"):
        as_tools([add, from_function(boom, name="add")])
    with pytest.raises(ValidationError, match="max_tool_rounds"):
        run_tools(Chat(base_url="http://127.0.0.1:9", model="m"), "go", [add], approve="always",
                  max_tool_rounds=-1)  # fmt: skip


def test_an_async_tool_on_the_sync_path_inside_a_running_loop() -> None:
    """A Jupyter cell runs inside the kernel's loop: the async tool gets a loop of its own."""
    import asyncio

    async def twice(n: int) -> int:
        await asyncio.sleep(0)
        return 2 * n

    async def cell() -> Any:
        with FakeOpenAIServer(model="m") as server:
            server.queue(Reply(tool_calls=[_call("c1", "twice", '{"n": 21}')]), Reply(text="ok"))
            chat = Chat(base_url=server.base_url, model="m")
            return chat("go", tools=[twice], approve=lambda c, a: True)

    out = asyncio.run(cell())
    assert out.messages[1]["content"] == "42"


def test_without_pydantic_the_plain_schema_and_checks() -> None:
    """pydantic is optional: blocked in a fresh interpreter, the common types still work."""
    code = textwrap.dedent(
        """
        import dataclasses, enum, json, sys
        sys.modules["pydantic"] = None
        from typing import Literal, Optional
        from lexilux_nb.client.tools import from_function, ToolArgumentsError

        class Color(enum.Enum):
            RED = "red"

        @dataclasses.dataclass
        class Box:
            w: int
            h: int = 1

        def f(box: Box, color: Color, mode: Literal["a", "b"] = "a", n: Optional[int] = None):
            pass

        tool = from_function(f)
        args = tool.validate({"box": {"w": 2}, "color": "red"})
        assert args == {"box": Box(2), "color": Color.RED}, args
        try:
            tool.validate({"color": "green", "zz": 1})
        except ToolArgumentsError as exc:
            error = str(exc)
        print(json.dumps({"schema": tool.spec.parameters, "error": error}))
        assert "pydantic" not in sys.modules or sys.modules["pydantic"] is None
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    props = out["schema"]["properties"]
    assert props["box"] == {
        "type": "object",
        "properties": {"w": {"type": "integer"}, "h": {"type": "integer"}},
        "required": ["w"],
    }
    assert props["color"] == {"enum": ["red"], "type": "string"}
    assert props["mode"] == {"enum": ["a", "b"], "type": "string"}
    assert props["n"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert "missing required argument(s): box" in out["error"]
    assert "unexpected argument(s): zz" in out["error"]
    assert "'green' is not a valid Color" in out["error"]


def test_a_function_is_described_once_and_params_tools_explain_where_functions_go() -> None:
    from lexilux_nb.client.options import ChatParams

    assert from_function(add) is from_function(add)
    assert from_function(add, name="plus") is not from_function(add, name="plus")

    def redefined(a: int) -> int:
        return a

    first = from_function(redefined)

    def redefined(a: str) -> str:  # type: ignore[no-redef]  # a cell run again
        return a

    assert from_function(redefined).spec.parameters != first.spec.parameters
    chat = Chat(base_url="http://127.0.0.1:9", model="m")
    with pytest.raises(ValidationError, match=r"goes in tools=\[...\] itself"):
        chat.prepare("go", params=ChatParams(tools=[add]))  # type: ignore[list-item]


def test_calls_without_an_id_get_one_their_answers_name() -> None:
    import httpx

    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) == 1:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
                ],
            }
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "2"}, "stop"
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return httpx.Response(
            200, json={"id": "x", "object": "chat.completion", "choices": [choice]}
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    chat = Chat(base_url="http://local.test/v1", model="m", http_client=client)
    out = chat("go", tools=[add], approve="always")
    sent = bodies[1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1_0"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1_0", "content": "2"}
    assert out.text == "2"
