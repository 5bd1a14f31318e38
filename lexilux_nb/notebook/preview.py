"""``--dry-run``: the exact request, readable first (who says what), then as JSON; key masked."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from ..client.chat import Chat
from ..client.errors import LexiluxError, mask_secret
from ..client.messages import content_text
from ..client.tools import as_tools
from ..client.transport import PreparedRequest
from ..context.images import redacted
from ..engine import Ask, Turn
from ..markup.style import INFO
from . import meter
from .config import Endpoint, Target
from .errors import ChatCellError, describe_error

PRE = (
    "margin:0.3em 0;padding:6px 10px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "background:var(--jp-layout-color2, rgba(127,127,127,.1));"
    "color:var(--jp-content-font-color1, inherit);border-radius:4px;font-size:0.9em"
)
LABEL = "font-weight:600;color:var(--jp-content-font-color2, #6b7280);font-size:0.85em"


def _shown(request: PreparedRequest, endpoint: Endpoint) -> dict[str, Any]:
    headers = {
        k: (mask_secret(endpoint.api_key.value) if k.lower() == "authorization" else v)
        for k, v in request.headers.items()
    }
    url = request.url
    if endpoint.embedded:
        url = "(the embedded model, started on first use)/chat/completions"
    return {"url": url, "headers": headers, "body": redacted(request.body)}  # no base64 shown


def _messages_text(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(m.get("role")), content_text(m.get("content")) or "(no text)")
        for m in body.get("messages", [])
    ]


def request_preview(
    request: PreparedRequest, endpoint: Endpoint, notices: Sequence[str] = ()
) -> dict[str, Any]:
    """A display bundle: plain text, HTML and the JSON itself."""
    shown = _shown(request, endpoint)
    body = shown["body"]
    settings = {k: v for k, v in body.items() if k not in ("messages", "model")}
    head = f"POST {shown['url']}\nmodel {body.get('model')}"
    if settings:
        head += " · " + " · ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
    messages = _messages_text(body)
    as_json = json.dumps(shown, indent=2, ensure_ascii=False)
    text = "\n".join(
        ["Dry run: nothing was sent.", *(f"{INFO} {n}" for n in notices), head, ""]
        + [f"[{role}]\n{content}\n" for role, content in messages]
        + ["The request as JSON:", as_json]
    )
    parts = ["<div><b>Dry run</b>: nothing was sent.</div>"]
    parts += [f"<div style='{LABEL}'>{INFO} {html.escape(n)}</div>" for n in notices]
    parts.append(f"<pre style='{PRE}'>{html.escape(head)}</pre>")
    for role, content in messages:
        parts.append(f"<div style='{LABEL}'>{html.escape(role)}</div>")
        parts.append(f"<pre style='{PRE}'>{html.escape(content)}</pre>")
    parts.append(
        f"<div style='{LABEL}'>The request as JSON</div>"
        f"<pre style='{PRE};max-height:16em;overflow:auto'>{html.escape(as_json)}</pre>"
    )
    return {
        "text/plain": text,
        "text/html": f"<div class='lexilux-dry-run'>{''.join(parts)}</div>",
        "application/json": shown,
    }


def dry_run(
    settings: Any, chosen: Target, turn: Turn, ask: Ask, notices: Sequence[str], typed: str | None
) -> dict[str, Any]:
    """The preview of the exact request a cell would send, with the budget meter's estimate;
    the embedded model is not started."""
    endpoint = chosen.endpoint
    base_url = endpoint.base_url.value or "http://127.0.0.1/v1"
    try:  # built like the shared client (same provider), so the body is the one sent
        with Chat(
            base_url=base_url,
            api_key=endpoint.api_key.value,
            model=chosen.model,
            provider=settings.provider or ("llamacpp" if endpoint.embedded else None),
        ) as probe:
            options: dict[str, Any] = dict(ask.options)
            if ask.tools:  # the specs the model would see
                options["tools"] = [t.spec for t in as_tools(ask.tools.functions)]
            request = probe.prepare(
                turn.request, stream=ask.stream, history=turn.context, **options
            )
            asked = None if endpoint.embedded else probe  # its window: asked, if large
            notices = [*notices, meter.preview(settings, asked, request, typed)]
    except LexiluxError as exc:
        raise ChatCellError(describe_error(exc, endpoint)) from None
    return request_preview(request, endpoint, notices)
