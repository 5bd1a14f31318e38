"""The budget meter's pure parts: counting, naming the parts, the verdict, reading the window."""

from __future__ import annotations

import threading

import pytest

from lexilux_nb.client.tokens import estimate_tokens
from lexilux_nb.context import budget
from lexilux_nb.context.budget import (
    PER_IMAGE,
    PER_MESSAGE,
    Estimate,
    Part,
    discover_window,
    estimate,
    placeholder_parts,
    verdict,
    window_from_models,
    window_from_props,
)
from lexilux_nb.testing import FakeOpenAIServer


@pytest.fixture(autouse=True)
def _no_cached_windows():
    budget.forget_windows()
    yield
    budget.forget_windows()


def user(content):
    return {"role": "user", "content": content}


# -- naming the parts of a prompt -------------------------------------------------------------


def test_each_placeholder_gets_the_text_it_became():
    raw = "Summarise {df} and compare with {report.text}, please."
    filled = "Summarise | a | b |\n|---|---| and compare with It was a good year, please."
    assert placeholder_parts(raw, filled) == [
        ("{df}", "| a | b |\n|---|---|"),
        ("{report.text}", "It was a good year"),
    ]


def test_a_value_containing_the_next_literal_is_split_at_its_first_occurrence():
    # " and " is also inside {a}'s value ("x and y"): that share goes to {b}, but the total holds
    parts = placeholder_parts("{a} and {b}", "x and y and z")
    assert parts == [("{a}", "x"), ("{b}", "y and z")]


def test_adjacent_placeholders_are_named_together_and_doubled_braces_are_literal():
    assert placeholder_parts("{a}{b} end", "12 end") == [("{a}{b}", "12")]
    assert placeholder_parts("keep {{x}} but {y}", "keep {x} but 7") == [("{y}", "7")]


def test_a_prompt_that_does_not_align_or_has_no_placeholders_gives_none():
    assert placeholder_parts("no placeholders", "no placeholders") is None
    assert placeholder_parts("Hello {name}!", "Goodbye Ann?") is None


# -- estimating -------------------------------------------------------------------------------


def test_estimate_names_system_history_placeholders_prompt_and_images():
    big = "x" * 4000  # 1000 tokens by the heuristic
    messages = [
        {"role": "system", "content": "Be brief."},
        user("earlier question"),
        {"role": "assistant", "content": "earlier answer " * 10},
        user(
            [
                {"type": "text", "text": f"Look at {big} and tell me."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]
        ),
    ]
    found = estimate(messages, raw_prompt="Look at {df} and tell me.", counter=estimate_tokens)
    named = {p.name: p.tokens for p in found.parts}
    assert named["{df}"] == 1000
    assert named["images"] == PER_IMAGE
    assert named["system"] == estimate_tokens("Be brief.") + PER_MESSAGE
    history = estimate_tokens("earlier question") + estimate_tokens("earlier answer " * 10)
    assert named["history"] == history + 2 * PER_MESSAGE
    assert named["prompt"] == estimate_tokens("Look at  and tell me.") + PER_MESSAGE
    assert found.total == sum(named.values())
    assert [p.name for p in found.largest(2)] == ["{df}", "images"]


def test_without_the_typed_prompt_the_whole_message_is_the_prompt():
    found = estimate([user("abcd" * 10)], counter=estimate_tokens)
    assert found.parts == (Part("prompt", 10 + PER_MESSAGE),)


def test_the_default_counter_is_used_when_none_is_given():
    assert estimate([user("hello world")]).total > PER_MESSAGE


# -- the verdict ------------------------------------------------------------------------------


def test_the_verdict_names_the_three_largest_parts_with_thousands_separators():
    found = Estimate(
        (Part("{df}", 12400), Part("history", 3100), Part("prompt", 20), Part("system", 5)), 15525
    )
    warning = verdict(found, 8192)
    assert warning is not None
    assert "about 15,525 tokens" in warning and "window of 8,192" in warning
    assert "{df} 12,400 tokens, history 3,100 tokens, prompt 20 tokens" in warning
    assert "system" not in warning


def test_a_prompt_that_fits_or_an_unknown_window_gives_no_verdict():
    found = Estimate((Part("prompt", 100),), 100)
    assert verdict(found, 100) is None
    assert verdict(found, None) is None


def test_the_answer_reserve_counts_against_the_window():
    found = Estimate((Part("prompt", 100),), 100)
    assert verdict(found, 150) is None
    warning = verdict(found, 150, reserve=60)
    assert warning is not None and "plus 60 for the answer (max_tokens)" in warning


# -- the window the server reports ------------------------------------------------------------

LLAMACPP_NEW = {  # llama.cpp since late 2025: n_ctx (allocated) next to n_ctx_train
    "object": "list",
    "data": [
        {
            "id": "qwen.gguf",
            "object": "model",
            "owned_by": "llamacpp",
            "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx": 8192, "n_ctx_train": 32768},
        }
    ],
}
LLAMACPP_OLD = {"data": [{"id": "m.gguf", "meta": {"n_ctx_train": 131072, "n_vocab": 32000}}]}
PROPS = {"default_generation_settings": {"n_ctx": 4096, "params": {}}, "total_slots": 1}


def test_llama_cpp_n_ctx_is_the_window_and_n_ctx_train_only_an_upper_bound():
    assert window_from_models(LLAMACPP_NEW, "qwen.gguf") == (8192, True)
    assert window_from_models(LLAMACPP_NEW, "whatever-was-asked") == (8192, True)  # only one
    assert window_from_models(LLAMACPP_OLD, None) == (131072, False)


def test_other_servers_spellings_and_servers_that_report_nothing():
    vllm = {"data": [{"id": "a", "max_model_len": 16384}, {"id": "b", "max_model_len": 2048}]}
    assert window_from_models(vllm, "b") == (2048, True)
    assert window_from_models(vllm, "c") == (None, False)  # several, none of them ours
    openrouter = {"data": [{"id": "x/y", "context_length": 200000}]}
    assert window_from_models(openrouter, "x/y") == (200000, True)
    openai = {"data": [{"id": "gpt-4o", "object": "model", "owned_by": "system"}]}
    assert window_from_models(openai, "gpt-4o") == (None, False)
    assert window_from_models({"data": [{"id": "z", "meta": {"n_ctx": True}}]}, "z") == (
        None,
        False,
    )
    assert window_from_models("not json", "z") == (None, False)


def test_props_n_ctx():
    assert window_from_props(PROPS) == 4096
    assert window_from_props({"n_ctx": 2048}) == 2048
    assert window_from_props({"default_generation_settings": {}}) is None


class Getter:
    def __init__(self, answers):
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, url):
        self.asked.append(url)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_discovery_asks_props_when_models_gives_only_the_training_length_and_caches():
    get = Getter({"http://h/v1/models": LLAMACPP_OLD, "http://h/props": PROPS})
    assert discover_window("http://h/v1/", "m.gguf", get) == 4096
    assert discover_window("http://h/v1", "m.gguf", get) == 4096
    assert get.asked == ["http://h/v1/models", "http://h/props"]


def test_discovery_falls_back_to_the_training_length_and_remembers_servers_without_one():
    get = Getter({"http://h/v1/models": LLAMACPP_OLD, "http://h/props": OSError("404")})
    assert discover_window("http://h/v1", "m.gguf", get) == 131072
    silent = Getter({"http://s/v1/models": OSError("refused")})
    assert discover_window("http://s/v1", "m", silent) is None
    assert discover_window("http://s/v1", "m", silent) is None
    assert silent.asked == ["http://s/v1/models"]


def test_discovery_over_http_from_the_fake_server_with_its_key():
    with FakeOpenAIServer(model="m", api_key="sk-window-key", context_window=3000) as server:
        get = budget.http_getter({"Authorization": "Bearer sk-window-key"})
        assert discover_window(server.base_url, "m", get) == 3000
        assert [r.path for r in server.requests] == ["/v1/models"]
    with FakeOpenAIServer(model="m", api_key="sk-window-key") as locked:
        assert discover_window(locked.base_url, "m", budget.http_getter({})) is None  # 401


def test_the_cache_is_safe_across_threads():
    get = Getter({"http://t/v1/models": LLAMACPP_NEW})
    found: list[int | None] = []
    threads = [
        threading.Thread(target=lambda: found.append(discover_window("http://t/v1", None, get)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [8192] * 8


def test_cells_sent_before_the_prompt_are_the_context_part():
    block = "Notebook context: the previous 1 code cell(s).\n\nIn [3]:\n" + "x = 1\n" * 100
    text = block + "\n\n---\n\nExplain {df} briefly."
    filled = text.replace("{df}", "a table " * 50)
    found = estimate([user(filled)], raw_prompt="Explain {df} briefly.", counter=estimate_tokens)
    named = {p.name: p.tokens for p in found.parts}
    assert named["context"] == estimate_tokens(block + "\n\n---\n\n")
    assert named["{df}"] == estimate_tokens("a table " * 50)
    assert named["prompt"] == estimate_tokens("Explain  briefly.") + PER_MESSAGE
    assert budget.context_prefix("{df} first", "anything") == ""  # cannot be told: none
