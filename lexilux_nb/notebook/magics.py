"""``%%chat``, ``%chat_complete``, ``%chat_config`` and ``%chat_history``: thin IPython magics.

Configuration is traitlets (``%config ChatMagics.model = "..."`` or ``ipython_config.py``);
parsing is ``magic_arguments``; the work is done by :mod:`.session` and :mod:`.views`.
"""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display
from traitlets import Bool, Float, Int, Unicode, default

from ..client.chat import Chat
from ..client.errors import LexiluxError, mask_secret
from . import arguments
from .config import Endpoint, build_chat, resolve_endpoint
from .errors import ChatCellError, describe_error
from .history_magic import history_command
from .interpolate import interpolate
from .session import DEFAULT_HISTORY, Exchange, Turn, get_history
from .views import TeeView, TerminalView, WidgetView

CONFIGURABLE = (
    "base_url",
    "model",
    "api_key_env",
    "provider",
    "system",
    "temperature",
    "max_tokens",
    "max_continues",
    "timeout",
    "history",
    "stream",
    "interpolate",
    "update_interval",
    "echo_file",
)


@magics_class
class ChatMagics(Magics):
    """Chat with an OpenAI-compatible model from cells."""

    base_url = Unicode(None, allow_none=True, help="Endpoint, e.g. https://api.openai.com/v1").tag(
        config=True
    )
    model = Unicode(None, allow_none=True, help="Default model name.").tag(config=True)
    api_key_env = Unicode(
        None, allow_none=True, help="Name of the environment variable holding the API key."
    ).tag(config=True)
    provider = Unicode(None, allow_none=True, help="Provider (detected from the URL).").tag(
        config=True
    )
    system = Unicode(None, allow_none=True, help="Default system prompt.").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature.").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Default max_tokens.").tag(config=True)
    max_continues = Int(5, help="Continuation rounds for %chat_complete.").tag(config=True)
    timeout = Float(300.0, help="Seconds to wait for the server (per read).").tag(config=True)
    history = Unicode(DEFAULT_HISTORY, help="Default ChatHistory variable name.").tag(config=True)
    stream = Bool(True, help="Stream answers live.").tag(config=True)
    interpolate = Bool(True, help="Fill {name} placeholders from the namespace.").tag(config=True)
    update_interval = Float(0.05, help="Seconds between live view updates.").tag(config=True)
    echo_file = Unicode(
        None,
        allow_none=True,
        help="Also append answers as plain text to this file while they stream (headless runs "
        "such as make demo read it); defaults to $LEXILUX_NB_ECHO.",
    ).tag(config=True)

    @default("echo_file")
    def _echo_file_from_env(self) -> str | None:
        return os.environ.get("LEXILUX_NB_ECHO") or None

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._chat: Chat | None = None
        self._chat_key: tuple[Any, ...] | None = None

    def _namespace(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("ChatMagics is not attached to an IPython shell")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    def close(self) -> None:
        """Close the shared client (on ``%unload_ext``)."""
        if self._chat is not None:
            self._chat.close()
            self._chat = None

    # -- shared client ---------------------------------------------------------------------

    def endpoint(self, args: Any = None) -> Endpoint:
        return resolve_endpoint(
            os.environ,
            line_base_url=getattr(args, "base_url", None),
            line_model=getattr(args, "model", None),
            line_api_key_env=getattr(args, "api_key_env", None),
            base_url=self.base_url,
            model=self.model,
            api_key_env=self.api_key_env,
        )

    def client(self, endpoint: Endpoint) -> Chat:
        """One ``Chat`` per kernel, rebuilt only when its connection settings change."""
        local_url = None
        if endpoint.base_url.value is None:  # the embedded model may have been restarted
            from ..local import local_server

            server = local_server()
            local_url = server.base_url if server.running else "stopped"
        key = (
            endpoint.base_url.value,
            local_url,
            endpoint.api_key.value,
            self.provider,
            self.timeout,
        )
        if self._chat is None or self._chat_key != key:
            if self._chat is not None:
                self._chat.close()
            self._chat = build_chat(endpoint, provider=self.provider or None, timeout=self.timeout)
            self._chat_key = key
        if endpoint.model.value:
            self._chat.model = endpoint.model.value
        return self._chat

    # -- the chat magics -------------------------------------------------------------------

    @no_var_expand
    @arguments.chat_arguments
    @line_cell_magic
    def chat(self, line: str, cell: str | None = None) -> None:
        """Ask the model: ``%%chat [options]`` (cell = prompt) or ``%chat [options] prompt``."""
        self._run(self.chat, line, cell, complete=False)

    @no_var_expand
    @arguments.complete_arguments
    @line_cell_magic
    def chat_complete(self, line: str, cell: str | None = None) -> None:
        """Like ``%%chat``, but an answer cut off by ``max_tokens`` is continued until complete."""
        self._run(self.chat_complete, line, cell, complete=True)

    def _run(self, magic: Any, line: str, cell: str | None, *, complete: bool) -> None:
        options_text, prompt = (line, cell) if cell is not None else arguments.split_line(line)
        prompt = prompt.strip()
        args = arguments.parse(magic, options_text)
        if not prompt:
            raise UsageError("no prompt: write it after the options, or in the cell body")
        ns = self._namespace()
        interpolating = self.interpolate and not args.no_interpolate
        endpoint = self.endpoint(args)
        options = self._options(args)
        history = None
        try:  # an unknown {name} or a non-ChatHistory variable: a short error, no traceback
            prompt = interpolate(prompt, ns) if interpolating else prompt
            if not args.no_history:
                history = get_history(ns, args.history or self.history)
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, endpoint)) from None
        if history is not None and args.new:
            if args.dry_run:
                history = history[:0]  # preview as if cleared; the real history is untouched
            else:
                history.clear()
        turn = Turn(prompt, history, cell_id=self._cell_id())
        if args.dry_run:
            self._dry_run(endpoint, turn, options, stream=self.stream and not args.no_stream)
            return
        settings = None
        if complete:
            settings = {"max_continues": self._max_continues(args), "ensure_complete": False}
        try:
            chat = self.client(endpoint)
            view = self._view(args.format, settings)
            Exchange(chat, ns, view).run(
                turn,
                options,
                stream=self.stream and not args.no_stream,
                complete=settings,
                out=args.out,
            )
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, endpoint)) from None

    def _max_continues(self, args: Any) -> int:
        """``--max-continues`` when given (0 included), else the configured default."""
        given: int | None = args.max_continues
        return self.max_continues if given is None else given

    def _options(self, args: Any) -> dict[str, Any]:
        def given(name: str) -> Any:
            return getattr(args, name, None)

        temperature = given("temperature")
        options: dict[str, Any] = {
            "system": given("system") or self.system,
            "temperature": temperature if temperature is not None else self.temperature,
            "max_tokens": given("max_tokens") or self.max_tokens,
            "top_p": given("top_p"),
            "stop": given("stop"),
            "reasoning": arguments.reasoning_setting(given("reasoning")),
            "extra": given("extra") or None,
            "model": given("model"),
        }
        return {k: v for k, v in options.items() if v is not None}

    def _view(self, fmt: str, settings: dict[str, Any] | None) -> Any:
        if getattr(self.shell, "kernel", None) is None:
            return TerminalView()
        rounds = 1 + settings["max_continues"] if settings else 1
        view = WidgetView(
            display,
            fmt=fmt,
            continuing=settings is not None,
            max_rounds=rounds,
            interval=self.update_interval,
        )
        if not self.echo_file:
            return view
        # Not sys.__stderr__: ipykernel captures the kernel's file descriptors into the notebook.
        echo = open(self.echo_file, "a", encoding="utf-8")  # noqa: SIM115 - closed by the view
        return TeeView(view, TerminalView(echo, close=True))

    def _cell_id(self) -> str | None:
        kernel = getattr(self.shell, "kernel", None)
        if kernel is None:
            return None
        try:
            parent = kernel.get_parent("shell")
        except Exception:
            return None
        cell_id = (parent or {}).get("metadata", {}).get("cellId")
        return str(cell_id) if cell_id else None

    def _dry_run(
        self, endpoint: Endpoint, turn: Turn, options: dict[str, Any], *, stream: bool
    ) -> None:
        base_url = endpoint.base_url.value or "http://127.0.0.1:0/v1 (local model)"
        try:  # built like the shared client (same provider), so the body is the one sent
            with Chat(
                base_url=base_url,
                api_key=endpoint.api_key.value,
                model=endpoint.model.value,
                provider=self.provider or None,
            ) as probe:
                request = probe.prepare(turn.prompt, stream=stream, history=turn.context, **options)
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, endpoint)) from None
        shown = {
            "url": request.url,
            "headers": {
                k: (mask_secret(endpoint.api_key.value) if k == "Authorization" else v)
                for k, v in request.headers.items()
            },
            "body": request.body,
        }
        text = json.dumps(shown, indent=2, ensure_ascii=False)
        display({"text/plain": text, "application/json": shown}, raw=True)

    # -- configuration and history ---------------------------------------------------------

    @no_var_expand
    @line_magic
    def chat_config(self, line: str) -> None:
        """``%chat_config key=value ...`` sets defaults; with no argument, shows every setting."""
        if not line.strip():
            self._show_config()
            return
        try:  # quotes allow spaces: %chat_config system="Be brief."
            items = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%chat_config could not read {line!r}: {exc}") from None
        for item in items:
            name, sep, raw = item.partition("=")
            if not sep or name not in CONFIGURABLE:
                raise UsageError(
                    f"%chat_config takes key=value with key one of {', '.join(CONFIGURABLE)}; "
                    f"got {item!r} (the API key is read from the variable named by api_key_env)"
                )
            try:
                setattr(self, name, _convert(self.traits()[name], raw))
            except Exception as exc:
                raise UsageError(f"%chat_config {name}: {exc}") from None

    def _show_config(self) -> None:
        endpoint = self.endpoint()
        rows = endpoint.describe()
        rows += [(name, repr(getattr(self, name)), "ChatMagics") for name in CONFIGURABLE[3:]]
        width = max(len(r[0]) for r in rows)
        text = "\n".join(f"{n:<{width}}  {v}  ({s})" for n, v, s in rows)
        print(text)

    @no_var_expand
    @arguments.panel_arguments
    @line_magic
    def chat_panel(self, line: str) -> None:
        """``%chat_panel [-H NAME] [options]``: a chat box on the same history as ``%%chat``."""
        from .panel import ChatPanel

        args = arguments.parse(self.chat_panel, line)
        endpoint = self.endpoint(args)
        try:
            chat = self.client(endpoint)
            panel = ChatPanel(
                args.history or self.history,
                chat,
                namespace=self._namespace(),
                max_continues=self._max_continues(args),
                **self._options(args),
            )
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, endpoint)) from None
        panel.auto_continue.value = bool(args.auto_continue)
        display(panel)

    @line_magic
    def chat_local(self, line: str) -> None:
        """``%chat_local [--status | --stop]``: start, inspect or stop the embedded model."""
        from ..local import LocalModelUnavailable, ensure_local_endpoint, local_server, stop_local

        option = line.strip()
        if option not in ("", "--status", "--stop"):
            raise UsageError(f"%chat_local takes --status or --stop, got {option!r}")
        if option == "--stop":
            print("local model stopped" if stop_local() else "the local model was not running")
            return
        if option == "":
            try:
                ensure_local_endpoint()
            except LocalModelUnavailable as exc:
                raise ChatCellError(str(exc)) from None
        status = local_server().status()
        state = f"running at {status['base_url']}" if status["running"] else "not running"
        print(f"local model {status['model']}: {state}")

    @line_magic
    def chat_history(self, line: str) -> None:
        """Show, clear, pop, save, load or list chat histories (``%chat_history --help``)."""
        history_command(self._namespace(), line, default=self.history)


def _convert(trait: Any, raw: str) -> Any:
    """A ``%chat_config`` value as the trait's type; ``none`` or empty resets to None."""
    if raw.lower() in ("", "none"):
        return None
    if isinstance(trait, Bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(trait, Int):
        return int(raw)
    if isinstance(trait, Float):
        return float(raw)
    return raw
