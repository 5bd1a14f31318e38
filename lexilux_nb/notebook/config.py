"""Where the endpoint, key and model come from, and why.

Precedence, highest first: options on the magic line; ``%chat_config`` / ``%config ChatMagics``
traits (``ipython_config.py`` too); environment variables (``LEXILUX_*``, then ``OPENAI_*``);
finally the embedded local model. Each value carries its source so ``%chat_config`` can say
where it came from. The key itself is only ever read from an environment variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..client.chat import Chat
from ..client.errors import mask_secret

ENV_NAMES = {
    "base_url": ("LEXILUX_BASE_URL", "OPENAI_BASE_URL"),
    "api_key": ("LEXILUX_API_KEY", "OPENAI_API_KEY"),
    "model": ("LEXILUX_MODEL", "OPENAI_MODEL"),
}
LOCAL = "local model"


@dataclass(frozen=True, slots=True)
class Setting:
    value: str | None
    source: str  # "magic line", "%chat_config", "$LEXILUX_MODEL", LOCAL or "not set"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The resolved connection settings for one call."""

    base_url: Setting
    api_key: Setting
    model: Setting

    @property
    def uses_local_model(self) -> bool:
        return self.base_url.source == LOCAL

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) rows with the key masked."""
        return [
            ("base_url", self.base_url.value or "(not set)", self.base_url.source),
            ("api_key", mask_secret(self.api_key.value), self.api_key.source),
            ("model", self.model.value or "(not set)", self.model.source),
        ]


def _pick(
    name: str,
    line: str | None,
    configured: str | None,
    env: Mapping[str, str],
    env_names: tuple[str, ...],
) -> Setting:
    if line:
        return Setting(line, "magic line")
    if configured:
        return Setting(configured, "%chat_config")
    for var in env_names:
        if env.get(var):
            return Setting(env[var], f"${var}")
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
) -> Endpoint:
    """Combine the magic line, the configured traits and the environment."""
    url = _pick("base_url", line_base_url, base_url, env, ENV_NAMES["base_url"])
    key_var = line_api_key_env or api_key_env
    if key_var:
        source = "magic line" if line_api_key_env else "%chat_config"
        value = env.get(key_var)
        key = Setting(value, f"${key_var} ({source})" if value else f"${key_var} is empty")
    else:
        key = _pick("api_key", None, None, env, ENV_NAMES["api_key"])
    chosen_model = _pick("model", line_model, model, env, ENV_NAMES["model"])
    if url.value is None:
        url = Setting(None, LOCAL)
    return Endpoint(url, key, chosen_model)


def build_chat(
    endpoint: Endpoint,
    *,
    provider: str | None = None,
    timeout: float = 300.0,
    announce: Callable[[str], object] | None = print,
) -> Chat:
    """A client for ``endpoint``; with no base URL, for the embedded local model (started now)."""
    base_url = endpoint.base_url.value
    model = endpoint.model.value
    if base_url is None:
        from ..local import MODEL_ALIAS, PROVIDER, ensure_local_endpoint

        base_url = ensure_local_endpoint(announce=announce)
        provider = provider or PROVIDER
        model = model or MODEL_ALIAS
    return Chat(
        base_url=base_url,
        api_key=endpoint.api_key.value,
        model=model,
        provider=provider,
        read_timeout_s=timeout,
        connect_timeout_s=10.0,
    )
