"""The notebook's settings are traitlets, and only traitlets.

``%chat_config key=value`` and ``%config ChatMagics.key = value`` (or ``ipython_config.py``) set
the same traits; ``%chat_config`` reads its keys from the configurable traits, parses values with
traitlets and validates them here, so an invalid value is refused before anything uses it.
Defaults come from :mod:`lexilux_nb.defaults`.
"""

from __future__ import annotations

import difflib
import math
import os
from typing import Any

from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from .. import defaults
from ..client.protocol import PROVIDERS

ENDPOINT_KEYS = ("base_url", "api_key_env", "model", "provider")
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False}
BOOLEANS.update({"off": False, "0": False})


class UnknownSetting(KeyError):
    """``%chat_config`` was given a key that is not a setting."""


def _finite(name: str, value: float | None, *, low: float, high: float | None = None) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise TraitError(f"{name} must be a finite number {bound}, got {value!r}")


class ChatConfig(Configurable):
    """Every setting of the magics and the panel (``%chat_config`` shows them all)."""

    base_url = Unicode(
        None,
        allow_none=True,
        help="Endpoint, e.g. https://api.openai.com/v1 (none: the embedded model)",
    ).tag(config=True)
    model = Unicode(None, allow_none=True, help="Model name").tag(config=True)
    api_key_env = Unicode(
        None, allow_none=True, help="Name of the environment variable holding the API key"
    ).tag(config=True)
    provider = Unicode(None, allow_none=True, help="Provider (detected from the URL)").tag(
        config=True
    )
    system = Unicode(None, allow_none=True, help="System prompt").tag(config=True)
    temperature = Float(None, allow_none=True, help="Sampling temperature, 0 to 2").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Cap on an answer's length in tokens").tag(
        config=True
    )
    max_continues = Int(
        defaults.MAX_CONTINUES, help="Continuation rounds for %%chat_complete and the panel"
    ).tag(config=True)
    timeout = Float(
        defaults.TIMEOUT_S, help="Seconds to wait for a connection or the next bytes"
    ).tag(config=True)
    max_retries = Int(defaults.MAX_RETRIES, help="Retries after a failed request").tag(config=True)
    deadline_s = Float(
        None,
        allow_none=True,
        help="Seconds a whole answer may take, retries and streaming included (none: no limit)",
    ).tag(config=True)
    history = Unicode(defaults.HISTORY, help="ChatHistory variable name").tag(config=True)
    stream = Bool(True, help="Stream answers live").tag(config=True)
    interpolate = Bool(True, help="Fill {name} placeholders from the notebook").tag(config=True)
    update_interval = Float(
        defaults.UPDATE_INTERVAL_S, help="Seconds between live view updates"
    ).tag(config=True)
    live_append = Bool(
        True,
        help="The live view sends only what changed (needs anywidget in the notebook server's "
        "environment); false: it resends the whole answer",
    ).tag(config=True)
    echo_file = Unicode(
        None,
        allow_none=True,
        help="Also append answers as plain text to this file (headless runs; $LEXILUX_NB_ECHO)",
    ).tag(config=True)

    context_window = Int(
        None,
        allow_none=True,
        help="The model's context window in tokens for the budget meter (none: what the server "
        "reports, if it does)",
    ).tag(config=True)
    budget = Enum(
        ("warn", "refuse", "off"),
        "warn",
        help="A prompt that will not fit the context window: warn, refuse to send it, or off",
    ).tag(config=True)
    context_max_chars = Int(
        4000, help="Characters a {value} placeholder sends at most (its description says the rest)"
    ).tag(config=True)
    context_output_chars = Int(
        2000, help="Characters of each cell's output (--context) and of a traceback ({Err})"
    ).tag(config=True)
    image_max_px = Int(
        1024, help="Longest side, in pixels, of an image sent from a {fig}, {img} or {Out[n]}"
    ).tag(config=True)
    max_tool_rounds = Int(
        8, help="Rounds of tool calls (%%chat --tools) before the model must answer"
    ).tag(config=True)
    approve = Enum(
        ("ask", "always", "never"),
        "ask",
        help="Who approves a tool call: ask (a prompt in the answer), always, never",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._assigned: set[str] = set()  # set with %chat_config (shown as its source)

    @default("echo_file")
    def _echo_file_from_env(self) -> str | None:
        return os.environ.get("LEXILUX_NB_ECHO") or None

    # -- validation --------------------------------------------------------------------------

    @validate("temperature")
    def _valid_temperature(self, proposal: Any) -> Any:
        _finite("temperature", proposal["value"], low=0, high=2)
        return proposal["value"]

    @validate("timeout")
    def _valid_timeout(self, proposal: Any) -> Any:
        value = proposal["value"]
        if not math.isfinite(value) or value <= 0:
            raise TraitError(f"timeout must be a finite number of seconds above 0, got {value!r}")
        return value

    @validate("deadline_s")
    def _valid_deadline(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise TraitError(f"deadline_s must be a finite number of seconds > 0, got {value!r}")
        return value

    @validate("update_interval")
    def _valid_interval(self, proposal: Any) -> Any:
        _finite("update_interval", proposal["value"], low=0, high=60)
        return proposal["value"]

    @validate("max_tokens")
    def _valid_max_tokens(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and value < 1:
            raise TraitError(f"max_tokens must be a positive integer, got {value!r}")
        return value

    @validate("context_window")
    def _valid_window(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and value < 1:
            raise TraitError(f"context_window must be a positive number of tokens, got {value!r}")
        return value

    @validate("max_continues", "max_retries", "max_tool_rounds")
    def _valid_count(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value < 0:
            raise TraitError(f"{proposal['trait'].name} must be 0 or more, got {value!r}")
        return value

    @validate("context_max_chars", "context_output_chars", "image_max_px")
    def _valid_cap(self, proposal: Any) -> Any:
        value, name = proposal["value"], proposal["trait"].name
        low = 16 if name == "image_max_px" else 100
        if value < low:
            raise TraitError(f"{name} must be a whole number of at least {low}, got {value!r}")
        return value

    @validate("base_url")
    def _valid_base_url(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and not value.startswith(("http://", "https://")):
            raise TraitError(f"base_url must start with http:// or https://, got {value!r}")
        return value

    @validate("provider")
    def _valid_provider(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and value.lower() not in PROVIDERS:
            raise TraitError(f"provider must be one of {', '.join(sorted(PROVIDERS))}")
        return value

    @validate("history")
    def _valid_history(self, proposal: Any) -> Any:
        value = proposal["value"]
        if not value.isidentifier():
            raise TraitError(f"history must be a Python variable name, got {value!r}")
        return value

    # -- %chat_config ------------------------------------------------------------------------

    @classmethod
    def setting_names(cls) -> list[str]:
        """Endpoint settings first, then the rest alphabetically."""
        names = sorted(cls.class_trait_names(config=True))
        return [n for n in ENDPOINT_KEYS if n in names] + [
            n for n in names if n not in ENDPOINT_KEYS
        ]

    def assign(self, name: str, raw: str) -> tuple[Any, Any]:
        """Parse ``raw`` with the trait and set it; returns (old, new). ``none`` resets to None
        where a setting may be unset, and to its default otherwise."""
        names = self.setting_names()
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UnknownSetting(f"{name!r} is not a setting{hint}")
        trait = self.traits()[name]
        old = getattr(self, name)
        if raw.lower() in ("", "none", "default"):
            value = None if trait.allow_none else trait.default()
        elif isinstance(trait, Bool) and raw.lower() in BOOLEANS:
            value = BOOLEANS[raw.lower()]
        else:
            try:
                value = trait.from_string(raw)
            except ValueError:
                raise TraitError(f"{name} takes {_kind(trait)}, got {raw!r}") from None
        setattr(self, name, value)
        self._assigned.add(name)
        return old, getattr(self, name)

    def source_of(self, name: str) -> str:
        """Where a setting's value comes from, in the user's terms."""
        if name in self._assigned:
            return "%chat_config"
        section = self.config.get(type(self).__name__, {})
        if name in section:
            return "config (%config or ipython_config.py)"
        if name == "echo_file" and os.environ.get("LEXILUX_NB_ECHO"):
            return "environment ($LEXILUX_NB_ECHO)"
        return "default"


def _kind(trait: Any) -> str:
    if isinstance(trait, Bool):
        return "true or false"
    if isinstance(trait, Int):
        return "a whole number"
    if isinstance(trait, Float):
        return "a number"
    return "text"
