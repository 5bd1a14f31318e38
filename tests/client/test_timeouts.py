"""Timeouts must be finite and positive: NaN, infinity, zero, negatives and non-numbers are refused
with a ValidationError naming the field, before any request."""

import math

import pytest

from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import ValidationError


@pytest.mark.parametrize("field", ["timeout_s", "connect_timeout_s", "read_timeout_s"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0, -1.0, True, "5"])
def test_bad_timeouts_are_refused(field: str, bad: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Chat(base_url="http://127.0.0.1:9/v1", api_key="sk-test", model="m", **{field: bad})


def test_good_timeouts_are_kept() -> None:
    chat = Chat(base_url="http://127.0.0.1:9/v1", api_key="sk-test", model="m", timeout_s=2.5)
    assert chat.timeout.read == 2.5
    chat.close()


@pytest.mark.parametrize(
    "echo",
    [
        "sk-a/b+c=d",
        "sk-a\\/b+c=d",
        "sk-a%2Fb%2Bc%3Dd",
        "".join(f"\\u{ord(c):04x}" for c in "sk-a/b+c=d"),
    ],
)
def test_redact_matches_escaped_forms(echo: str) -> None:
    from lexilux_nb.client.errors import redact

    out = redact(f'{{"error": "bad key {echo}"}}', ["sk-a/b+c=d"])
    assert echo not in out
