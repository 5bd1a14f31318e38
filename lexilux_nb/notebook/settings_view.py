"""``%chat_config`` with no arguments: a titled table of every setting, where it comes from, and
the endpoint and model actually in use (the key masked)."""

from __future__ import annotations

import html

from ..client.errors import mask_secret
from .config import Endpoint, target
from .settings import ChatConfig

TITLE = "lexilux_nb settings"
CELL = "padding:1px 14px 1px 0;text-align:left;vertical-align:top"
HEAD = f"{CELL};border-bottom:1px solid var(--jp-border-color2, #d0d7de)"
MUTED = "color:var(--jp-content-font-color2, #6b7280)"


def _endpoint_rows(endpoint: Endpoint) -> list[tuple[str, str, str]]:
    from ..local import MODEL_NAME, local_server

    chosen = target(endpoint)
    if endpoint.embedded:
        server = local_server()
        state = f"running at {server.base_url}" if server.running else "starts on first use"
        url = (f"embedded model {MODEL_NAME} ({state})", "no endpoint configured")
        asked = endpoint.model.value
        model_note = f"embedded model (asked for: {asked})" if asked else "embedded model"
        model = (chosen.model or "", model_note)
    else:
        url = (str(endpoint.base_url.value), endpoint.base_url.source)
        model = (endpoint.model.value or "(not set: add -m MODEL)", endpoint.model.source)
    key = (mask_secret(endpoint.api_key.value), endpoint.api_key.source)
    return [("base_url", *url), ("api_key", *key), ("model", *model)]


def rows(config: ChatConfig, endpoint: Endpoint) -> list[tuple[str, str, str]]:
    """(setting, value shown, where it comes from), endpoint first."""
    found = _endpoint_rows(endpoint)
    for name in config.setting_names():
        if name in ("base_url", "model"):
            continue
        value = getattr(config, name)
        found.append((name, "(not set)" if value is None else repr(value), config.source_of(name)))
    return found


def settings_bundle(config: ChatConfig, endpoint: Endpoint, *, rich: bool) -> dict[str, str]:
    table = rows(config, endpoint)
    width = [max(len(r[i]) for r in [("setting", "value", ""), *table]) for i in range(2)]
    lines = [TITLE, "", f"{'setting':<{width[0]}}  {'value':<{width[1]}}  from"]
    lines += [f"{n:<{width[0]}}  {v:<{width[1]}}  {s}" for n, v, s in table]
    text = "\n".join(lines)
    if not rich:
        return {"text/plain": text}
    body = "".join(
        f"<tr><td style='{CELL}'><code>{html.escape(n)}</code></td>"
        f"<td style='{CELL}'>{html.escape(v)}</td>"
        f"<td style='{CELL};{MUTED}'>{html.escape(s)}</td></tr>"
        for n, v, s in table
    )
    head = "".join(f"<th style='{HEAD}'>{h}</th>" for h in ("setting", "value", "from"))
    markup = (
        f"<div class='lexilux-settings'><div style='font-weight:600;margin:0 0 4px 0'>{TITLE}</div>"
        f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )
    return {"text/plain": text, "text/html": markup}
