"""Describers: bounded, explicit about what is left out, extensible."""

import numpy as np
import pandas as pd

from lexilux_nb.context import describe, register_describer


def test_dataframe_schema_head_and_left_out_rows() -> None:
    df = pd.DataFrame({"a": range(25), "b": [None] * 5 + ["x"] * 20})
    text = describe(df)
    assert "25 rows × 2 columns" in text
    assert f"| b | {df.dtypes['b']} | 5 |" in text
    assert "[15 more rows not shown]" in text
    assert "First 10 rows" not in describe(df, "schema")


def test_dataframe_csv_and_full() -> None:
    df = pd.DataFrame({"a": range(3000)})
    assert "more characters not shown" in describe(df, "csv", max_chars=100)
    assert describe(df, "full").count("\n") == 3001


def test_ndarray_summary_and_sample() -> None:
    text = describe(np.arange(100))
    assert "shape (100,)" in text and "[90 more items not shown]" in text and "max 99" in text


def test_long_string_and_json_bounded() -> None:
    assert "[… text cut: 90 more characters" in describe("x" * 100, max_chars=10)
    assert describe({"k": [1, 2]}).startswith("{")


def test_hook_and_registry() -> None:
    class Hooked:
        def __llm__(self, spec: str) -> str:
            return f"hooked:{spec}"

    class Registered:
        pass

    register_describer(Registered, lambda v, spec, cap: "registered")
    assert describe(Hooked(), "md") == "hooked:md"
    assert describe(Registered()) == "registered"


def test_json_is_compact_when_short_and_indented_when_long() -> None:
    assert describe({"k": [1, 2], "name": "Ada"}) == '{"k": [1, 2], "name": "Ada"}'
    long = describe({"rows": list(range(40))})
    assert long.startswith('{\n "rows": [\n  0,\n  1,')


def test_full_is_unbounded_for_text_and_json() -> None:
    assert describe("y" * 10_000, "full", max_chars=10) == "y" * 10_000
    assert "not shown" not in describe(list(range(5000)), "full", max_chars=10)
