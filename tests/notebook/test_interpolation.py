"""``{name}`` placeholders in prompts: what is filled, what is left alone, and the errors."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from lexilux_nb.notebook.errors import ChatCellError
from lexilux_nb.notebook.interpolate import InterpolationError, interpolate


def sent_prompt(server: Any) -> str:
    assert server.requests, "no request was sent"
    content: str = server.requests[-1].messages[-1]["content"]
    return content


def ok(ran: Any) -> Any:
    assert ran.error is None, f"{ran.error!r}\n{ran.stdout}\n{ran.stderr}"
    return ran


@pytest.fixture
def names(shell: Any) -> dict[str, Any]:
    values = {
        "x": 42,
        "name": "Ada",
        "d": {"key": "dict value", "other key": 2, 3: "int key"},
        "obj": SimpleNamespace(attr="attribute value", inner=SimpleNamespace(deep="deeper")),
        "items": ["zero", "one", "two"],
        "nested": {"rows": [{"id": 7}]},
    }
    shell.user_ns.update(values)
    return values


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{x}", "42"),
        ("value: {x}!", "value: 42!"),
        ("{name} and {x}", "Ada and 42"),
        ("{d[key]}", "dict value"),
        ("{d['key']}", "dict value"),
        ('{d["other key"]}', "2"),
        ("{d[3]}", "int key"),
        ("{obj.attr}", "attribute value"),
        ("{obj.inner.deep}", "deeper"),
        ("{items[0]}", "zero"),
        ("{items[-1]}", "two"),
        ("{nested[rows][0][id]}", "7"),
        ("{{x}}", "{x}"),
        ("{{x}} is {x}", "{x} is 42"),
        ("{{d[key]}} {{obj.attr}}", "{d[key]} {obj.attr}"),
    ],
)
def test_placeholders_are_filled(
    server: Any, run: Any, names: dict[str, Any], template: str, expected: str
) -> None:
    ok(run(f"%%chat\n{template}"))
    assert sent_prompt(server) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        'Parse this JSON: {"user": {"name": "x", "tags": [1, 2]}}',
        "{k: v for k, v in pairs.items()}",
        "{1, 2, 3}",
        "{ x }",
        "{x + 1}",
        "{x!r}",
        "{x:>10}",
        "{}",
        "function f() { return 1; }",
        "{0}",
        "a lone { brace",
        "a lone } brace",
        "{x",
        '{"a": {"b": 1}}',
        '[{"a": {"b": {}}}, {"c": [{}]}]',
        "{{",
        "}}",
        "{{ not a placeholder }}",
        "{{1}}",
    ],
)
def test_other_braces_are_left_exactly_as_written(
    server: Any, run: Any, names: dict[str, Any], text: str
) -> None:
    ok(run(f"%%chat\n{text}"))
    assert sent_prompt(server) == text


def test_json_with_a_placeholder_inside(server: Any, run: Any, names: dict[str, Any]) -> None:
    ok(run('%%chat\n{"name": "{name}", "n": {x}}'))
    assert sent_prompt(server) == '{"name": "Ada", "n": 42}'


def test_values_are_inserted_as_descriptions(server: Any, run: Any, shell: Any) -> None:
    shell.user_ns["data"] = {"a": [1, 2]}
    shell.user_ns["text"] = "has {braces} and {x}"
    ok(run("%%chat\n{data} / {text}"))
    # dicts and lists as JSON, strings as themselves (and not re-interpolated)
    assert sent_prompt(server) == '{"a": [1, 2]} / has {braces} and {x}'


def test_line_form_interpolates_too(server: Any, run: Any, names: dict[str, Any]) -> None:
    ok(run("%chat tell me about {name}"))
    assert sent_prompt(server) == "tell me about Ada"


@pytest.mark.parametrize(
    ("template", "missing"),
    [
        ("{nope}", "nope"),
        ("hello {nope} there", "nope"),
        ("{nope.attr}", "nope"),
        ("{nope[0]}", "nope"),
        ("{x} and {undefined_thing}", "undefined_thing"),
    ],
)
def test_unknown_name_is_an_error_naming_it(
    server: Any, run: Any, shell: Any, names: dict[str, Any], template: str, missing: str
) -> None:
    ran = run(f"%%chat\n{template}")
    assert isinstance(ran.error, ChatCellError)
    assert repr(missing) in str(ran.error)
    assert "--no-interpolate" in str(ran.error)
    assert server.requests == []
    assert len(shell.user_ns.get("chat_history") or []) == 0
    shown = ran.stdout + ran.stderr
    assert missing in shown
    assert "Traceback" not in shown
    assert "interpolate.py" not in shown


@pytest.mark.parametrize(
    ("template", "detail"),
    [
        ("{obj.missing}", "missing"),
        ("{d[absent]}", "absent"),
        ("{items[10]}", "IndexError"),
        ("{x[0]}", "TypeError"),
    ],
)
def test_bad_access_is_an_error(
    server: Any, run: Any, names: dict[str, Any], template: str, detail: str
) -> None:
    ran = run(f"%%chat\n{template}")
    assert isinstance(ran.error, ChatCellError)
    assert template in str(ran.error)
    assert detail in str(ran.error)
    assert server.requests == []


def test_no_interpolate_leaves_placeholders(server: Any, run: Any, names: dict[str, Any]) -> None:
    ok(run("%%chat --no-interpolate\n{x} {nope} {{x}}"))
    assert sent_prompt(server) == "{x} {nope} {{x}}"


def test_interpolation_can_be_switched_off_by_config(
    server: Any, run: Any, names: dict[str, Any]
) -> None:
    ok(run("%chat_config interpolate=false"))
    ok(run("%%chat\n{x} {nope}"))
    assert sent_prompt(server) == "{x} {nope}"
    ok(run("%config ChatMagics.interpolate = True"))
    ok(run("%%chat\n{x}"))
    assert sent_prompt(server) == "42"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%chat cost is $x", "cost is $x"),
        ("%chat cost is $$x", "cost is $$x"),
        ("%chat the {x} value", "the 42 value"),  # ours, not IPython's var_expand
        ("%chat the {x+1} value", "the {x+1} value"),  # IPython would evaluate this
        ("%chat a {{x}} b", "a {x} b"),
    ],
)
def test_ipython_variable_expansion_does_not_happen(
    server: Any, run: Any, names: dict[str, Any], line: str, expected: str
) -> None:
    ok(run(line))
    assert sent_prompt(server) == expected


def test_options_are_not_interpolated(server: Any, run: Any, names: dict[str, Any]) -> None:
    ok(run("%%chat -s {name}\nhi"))
    assert server.requests[-1].messages[0] == {"role": "system", "content": "{name}"}


def test_nothing_is_evaluated() -> None:
    calls: list[str] = []

    class Spy:
        @property
        def attr(self) -> str:
            calls.append("attr")
            return "ok"

    namespace = {"spy": Spy(), "__import__": __import__}
    assert interpolate("{spy.attr}", namespace)[0] == "ok"
    assert calls == ["attr"]
    template = "{__import__('os').getcwd()} {spy.attr()}"
    assert interpolate(template, namespace)[0] == template
    assert calls == ["attr"]


def test_interpolation_error_is_a_validation_error() -> None:
    with pytest.raises(InterpolationError, match="'missing'"):
        interpolate("{missing}", {})


# -- what the model sees of a big value: a description, never a silently shortened repr ----------


def test_a_long_dataframe_is_described_not_shortened() -> None:
    pd = pytest.importorskip("pandas")
    long = pd.DataFrame({"a": range(100), "b": [f"x{i}" for i in range(100)]})
    text, notices = interpolate("rows: {long}", {"long": long})
    assert isinstance(text, str) and "..." not in text  # not pandas' screen-sized repr
    assert text.startswith("rows:\nDataFrame: 100 rows × 2 columns")  # on lines of its own
    assert "| a | int64 | 0 |" in text and "[90 more rows not shown]" in text
    assert notices == []


def test_a_big_numpy_array_is_described_with_a_summary() -> None:
    np = pytest.importorskip("numpy")
    text, notices = interpolate("{arr}", {"arr": np.arange(5000)})
    assert "..." not in text
    assert "shape (5000,), dtype int64" in text and "[4990 more items not shown]" in text
    assert "min 0, max 4999" in text
    assert notices == []


def test_a_placeholder_that_looks_like_a_call_is_sent_as_written_with_a_notice() -> None:
    import pandas as pd

    df = pd.DataFrame({"a": [1]})
    text, notices = interpolate("Summarise {df.describe()} please", {"df": df})
    assert text == "Summarise {df.describe()} please"
    assert len(notices) == 1 and "{df.describe()} is sent as written" in notices[0]
    assert "nothing is evaluated" in notices[0]
    # code in braces that does not start with a notebook name is left alone, silently
    assert interpolate("function f() { return g(); }", {"df": df}) == (
        "function f() { return g(); }",
        [],
    )


def test_notices_reach_the_cell_output(server: Any, run: Any, kernel: Any, shell: Any) -> None:
    import pandas as pd

    shell.user_ns["sales"] = pd.DataFrame({"n": range(80)})
    ran = run("%%chat\nLook at {sales.describe()}")
    assert ran.error is None, ran.error
    html, markdown = ran.answer["text/html"], ran.answer["text/markdown"]
    assert "is sent as written" in html
    assert html.index("is sent as written") < html.index("Echo:")  # above the answer
    assert markdown.startswith("*ℹ \\{sales.describe()\\} is sent as written")  # escaped
