"""Shared fixtures: a fake clock, a respx router, a ``Chat`` factory and the llama.cpp captures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from lexilux_nb.client.chat import Chat

BASE_URL = "https://llm.test/v1"
COMPLETIONS_URL = f"{BASE_URL}/chat/completions"
MODEL = "test-model"
API_KEY = "sk-test-0123456789"

# Real captures from a llama.cpp server, kept inside the repository (a clone is self-contained).
LLAMACPP_DIR = Path(__file__).resolve().parent / "fixtures" / "llamacpp"


class FakeClock:
    """A clock that never sleeps: it records each requested sleep and jumps time forward."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture(scope="session", autouse=True)
def _kernel_is_this_interpreter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Kernels started by the tests (jupyter_client, JupyterLab) run this interpreter, not a
    ``python3`` kernelspec of another environment that happens to be installed."""
    from lexilux_nb.demo import bind_kernel

    before = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = bind_kernel(tmp_path_factory.mktemp("kernelspec"))
    yield
    if before is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = before


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """Every httpx request is answered by this router (unmatched requests fail the test).

    ``using="httpx"`` mocks at the httpx transport, so ``route.calls.last.response`` is the very
    response object the client read (its ``is_closed`` can be checked).
    """
    with respx.mock(base_url=BASE_URL, using="httpx", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def make_chat(clock: FakeClock) -> Iterator[Callable[..., Chat]]:
    """Build a ``Chat`` pointed at the mocked server, with the fake clock unless told otherwise."""
    made: list[Chat] = []

    def make(**kwargs: Any) -> Chat:
        kwargs.setdefault("base_url", BASE_URL)
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("clock", clock)
        chat = Chat(**kwargs)
        made.append(chat)
        return chat

    yield make
    for chat in made:
        chat.close()


@pytest.fixture
def chat(make_chat: Callable[..., Chat]) -> Chat:
    return make_chat()


@pytest.fixture(scope="session")
def llamacpp_dir() -> Path:
    """The captured llama.cpp responses in ``tests/fixtures/llamacpp``."""
    if not (LLAMACPP_DIR / "README.md").is_file():
        pytest.fail(f"llama.cpp fixtures missing from {LLAMACPP_DIR}", pytrace=False)
    return LLAMACPP_DIR
