"""Where the endpoint, key and model come from, and why, and what the embedded model changes.

Precedence, highest first: options on the magic line; the settings (``%chat_config``, ``%config
ChatMagics``, ``ipython_config.py``); environment variables (``LEXILUX_*``, then ``OPENAI_*``);
finally the embedded model. Each value carries its source so ``%chat_config`` can say where it
came from. The key itself is only ever read from an environment variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..client.chat import Chat
from ..client.errors import Secret, mask_secret

ENV_NAMES = {
    "base_url": ("LEXILUX_BASE_URL", "OPENAI_BASE_URL"),
    "api_key": ("LEXILUX_API_KEY", "OPENAI_API_KEY"),
    "model": ("LEXILUX_MODEL", "OPENAI_MODEL"),
}
EMBEDDED = "embedded model"
LINE = "magic line"


@dataclass(frozen=True, slots=True)
class Setting:
    value: str | None
    source: str  # "magic line", "%chat_config", "environment ($LEXILUX_MODEL)", EMBEDDED, ...
    secret: bool = False

    def __repr__(self) -> str:
        shown = mask_secret(self.value) if self.secret else repr(self.value)
        return f"Setting({shown}, source={self.source!r})"


def _secret(value: str | None) -> str | None:
    """The key as a :class:`Secret`: masked in every repr, tuple and traceback it reaches."""
    return Secret(value) if value else value


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The resolved connection settings for one call."""

    base_url: Setting
    api_key: Setting
    model: Setting

    @property
    def embedded(self) -> bool:
        """No endpoint anywhere: the embedded model answers."""
        return self.base_url.value is None


def _pick(
    line: str | None,
    configured: str | None,
    configured_source: str,
    env: Mapping[str, str],
    env_names: tuple[str, ...],
) -> Setting:
    if line:
        return Setting(line, LINE)
    if configured:
        return Setting(configured, configured_source)
    for var in env_names:
        if env.get(var):
            return Setting(env[var], f"environment (${var})")
    return Setting(None, "not set")


def resolve_endpoint(
    env: Mapping[str, str],
    *,
    line_base_url: str | None = None,
    line_model: str | None = None,
    line_api_key_env: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    sources: Mapping[str, str] | None = None,
) -> Endpoint:
    """Combine the magic line, the settings (``sources`` names where each came from) and the
    environment."""
    where = dict(sources or {})
    url = _pick(
        line_base_url, base_url, where.get("base_url", "%chat_config"), env, ENV_NAMES["base_url"]
    )
    key_var = line_api_key_env or api_key_env
    if key_var:
        source = LINE if line_api_key_env else where.get("api_key_env", "%chat_config")
        value = env.get(key_var)
        shown = f"environment (${key_var}, named by {source})"
        key = Setting(_secret(value), shown if value else f"${key_var} is empty", secret=True)
    else:
        picked = _pick(None, None, "", env, ENV_NAMES["api_key"])
        key = Setting(_secret(picked.value), picked.source, secret=True)
    chosen = _pick(line_model, model, where.get("model", "%chat_config"), env, ENV_NAMES["model"])
    if url.value is None:
        url = Setting(None, EMBEDDED)
    return Endpoint(url, key, chosen)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a turn is sent: the endpoint, the model name to send, how footers name it, and what
    the user should be told about the choice."""

    endpoint: Endpoint
    model: str | None
    label: str | None = None  # None: the model the server names in its answer
    notices: tuple[str, ...] = ()


def target(endpoint: Endpoint) -> Target:
    """With no endpoint, the embedded model answers whatever model was asked for (and says so)."""
    if not endpoint.embedded:
        return Target(endpoint, endpoint.model.value)
    from ..local import MODEL_ALIAS, MODEL_NAME

    asked = endpoint.model.value
    notices: tuple[str, ...] = ()
    if asked and asked != MODEL_ALIAS:
        notices = (
            f"{asked} needs an endpoint, and none is configured: the embedded {MODEL_NAME} "
            "answers instead (set LEXILUX_BASE_URL or %chat_config base_url=... to use another).",
        )
    return Target(endpoint, MODEL_ALIAS, f"{MODEL_ALIAS} (embedded)", notices)


def build_chat(
    base_url: str,
    endpoint: Endpoint,
    *,
    provider: str | None,
    timeout: float,
    max_retries: int,
    model: str | None,
    deadline_s: float | None = None,
) -> Chat:
    """A client for ``base_url`` (the endpoint's, or the embedded model's once it runs)."""
    from ..defaults import CONNECT_TIMEOUT_S

    return Chat(
        base_url=base_url,
        api_key=endpoint.api_key.value,
        model=model,
        provider=provider,
        read_timeout_s=timeout,
        connect_timeout_s=min(CONNECT_TIMEOUT_S, timeout),
        max_retries=max_retries,
        deadline_s=deadline_s,
    )
