"""Transport configuration: URL, headers, timeouts, proxies, clients and their lifecycle."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from lexilux_nb import __version__
from lexilux_nb.client.chat import Chat
from lexilux_nb.client.errors import ConfigurationError, ValidationError

from .scenario import PATHS, Scenario, run_path

OK = Scenario(text="ok")


@pytest.fixture
def route(router):
    return router.post("/chat/completions").mock(side_effect=OK.responder())


def sent_headers(route) -> httpx.Headers:
    return route.calls.last.request.headers


@pytest.mark.parametrize("path", PATHS)
async def test_user_agent_and_auth_are_sent(path, chat, route):
    await run_path(path, chat, "hi")

    headers = sent_headers(route)
    assert headers["User-Agent"] == f"lexilux-nb/{__version__}"
    assert headers["Authorization"] == f"Bearer {chat.api_key}"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("sync", "application/json"),
        ("async", "application/json"),
        ("sync_stream", "text/event-stream"),
        ("async_stream", "text/event-stream"),
    ],
)
async def test_accept_header_matches_the_call(path, accept, chat, route):
    await run_path(path, chat, "hi")

    assert sent_headers(route)["Accept"] == accept


@pytest.mark.parametrize("path", PATHS)
async def test_no_authorization_without_a_key(path, make_chat, route):
    chat = make_chat(api_key=None)

    await run_path(path, chat, "hi")

    assert "Authorization" not in sent_headers(route)


@pytest.mark.parametrize("path", PATHS)
async def test_extra_headers_are_sent_and_the_dict_is_not_mutated(path, make_chat, route):
    headers = {"X-Trace": "abc", "OpenAI-Organization": "org-1"}
    chat = make_chat(headers=headers)

    await run_path(path, chat, "hi")

    assert headers == {"X-Trace": "abc", "OpenAI-Organization": "org-1"}
    assert sent_headers(route)["X-Trace"] == "abc"
    assert sent_headers(route)["OpenAI-Organization"] == "org-1"
    assert sent_headers(route)["User-Agent"].startswith("lexilux-nb/")


def test_headers_view_is_a_copy(make_chat):
    chat = make_chat(headers={"X-A": "1"})

    chat.headers["X-A"] = "2"

    assert chat.headers == {"X-A": "1"}


def test_custom_authorization_header_wins(make_chat, route):
    chat = make_chat(api_key="sk-one", headers={"Authorization": "Token other"})

    chat("hi")

    assert sent_headers(route).get_list("Authorization") == ["Token other"]


@pytest.mark.parametrize("path", PATHS)
async def test_caller_headers_replace_defaults_whatever_their_case(path, make_chat, route):
    chat = make_chat(
        api_key="sk-one", headers={"authorization": "Token other", "user-agent": "my-app/1.0"}
    )

    await run_path(path, chat, "hi")

    assert sent_headers(route).get_list("Authorization") == ["Token other"]
    assert sent_headers(route).get_list("User-Agent") == ["my-app/1.0"]


@pytest.mark.parametrize(
    "base_url",
    ["https://llm.test/v1", "https://llm.test/v1/", "https://llm.test/v1/chat/completions"],
)
def test_base_url_forms_hit_the_completions_endpoint(base_url, make_chat, route):
    chat = make_chat(base_url=base_url)

    chat("hi")

    assert str(route.calls.last.request.url) == "https://llm.test/v1/chat/completions"


@pytest.mark.parametrize("base_url", ["", "llm.test/v1", "ftp://llm.test/v1", None])
def test_bad_base_url_is_a_configuration_error(base_url):
    with pytest.raises(ConfigurationError, match="base_url"):
        Chat(base_url=base_url)


# -- timeouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, httpx.Timeout(60.0)),
        ({"read_timeout_s": 5}, httpx.Timeout(60.0, read=5.0)),
        ({"connect_timeout_s": 2}, httpx.Timeout(60.0, connect=2.0)),
        ({"timeout_s": 10}, httpx.Timeout(10.0)),
        ({"timeout_s": None}, httpx.Timeout(60.0)),
        ({"timeout_s": 30, "read_timeout_s": 120}, httpx.Timeout(30.0, read=120.0)),
    ],
)
def test_one_timeout_alone(kwargs, expected, make_chat):
    chat = make_chat(**kwargs)

    assert chat.timeout == expected
    assert chat._http.sync.timeout == expected


def test_read_timeout_alone_leaves_the_others_at_60(make_chat):
    timeout = make_chat(read_timeout_s=5).timeout

    assert (timeout.read, timeout.connect, timeout.write, timeout.pool) == (5, 60, 60, 60)


async def test_async_client_gets_the_timeout(make_chat):
    chat = make_chat(connect_timeout_s=2)

    assert chat._http.async_.timeout == httpx.Timeout(60.0, connect=2.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_s": 0}, {"read_timeout_s": -1}, {"connect_timeout_s": True}],
)
def test_bad_timeouts_are_refused(kwargs, make_chat):
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        make_chat(**kwargs)


# -- proxies -------------------------------------------------------------------------------------


def test_empty_proxies_ignore_the_environment(make_chat):
    assert make_chat(proxies={})._http.sync.trust_env is False


async def test_empty_proxies_ignore_the_environment_async(make_chat):
    assert make_chat(proxies={})._http.async_.trust_env is False


def test_no_proxies_argument_trusts_the_environment(make_chat):
    assert make_chat()._http.sync.trust_env is True


def test_proxies_route_through_a_mount(make_chat, route):
    chat = make_chat(proxies={"https": "http://proxy.local:3128"})

    chat("hi")

    assert chat._http.sync.trust_env is False
    assert route.call_count == 1


def test_bad_proxy_key_is_a_configuration_error_at_construction(make_chat, route):
    with pytest.raises(ConfigurationError, match="proxies"):
        make_chat(proxies={"socks": "socks5://proxy:1080"})
    assert not route.called


# -- clients and lifecycle -----------------------------------------------------------------------


def test_one_pooled_sync_client_is_reused(chat, route):
    chat("one")
    client = chat._http.sync
    chat("two")

    assert chat._http.sync is client
    assert route.call_count == 2


def test_async_works_across_two_event_loops(make_chat, route):
    chat = make_chat()

    first = asyncio.run(chat.acall("one"))
    second = asyncio.run(chat.acall("two"))

    async def stream_text() -> str:
        return "".join([c.delta async for c in chat.astream("three")])

    third = asyncio.run(stream_text())

    assert (first.text, second.text, third) == ("ok", "ok", "ok")
    assert route.call_count == 3


async def test_async_clients_are_per_loop_and_reused(chat, route):
    await chat.acall("one")
    client = chat._http.async_
    await chat.acall("two")

    assert chat._http.async_ is client


def test_close_closes_the_sync_client(make_chat, route):
    chat = make_chat()
    chat("hi")
    client = chat._http.sync

    chat.close()

    assert client.is_closed
    assert chat("again").text == "ok"  # a closed Chat reconnects on the next call


def test_with_block_closes_the_client(make_chat, route):
    with make_chat() as chat:
        assert chat("hi").text == "ok"
        client = chat._http.sync

    assert client.is_closed


async def test_async_with_block_closes_the_clients(make_chat, route):
    async with make_chat() as chat:
        assert (await chat.acall("hi")).text == "ok"
        async_client = chat._http.async_
        sync_client = chat._http.sync

    assert async_client.is_closed
    assert sync_client.is_closed


async def test_aclose_then_reuse(make_chat, route):
    chat = make_chat()
    await chat.acall("hi")
    client = chat._http.async_

    await chat.aclose()

    assert client.is_closed
    assert (await chat.acall("again")).text == "ok"
    assert chat._http.async_ is not client


def test_configuration_views(make_chat):
    chat = make_chat(max_retries=5, base_url="https://llm.test/v1/")

    assert chat.max_retries == 5
    assert chat.base_url == "https://llm.test/v1"
    assert chat.model == "test-model"


@pytest.mark.parametrize(
    ("base_url", "provider"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("http://127.0.0.1:8080/v1", "generic"),
    ],
)
def test_provider_is_guessed_from_the_host(base_url, provider, make_chat):
    assert make_chat(base_url=base_url).provider == provider
