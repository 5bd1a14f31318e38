"""``%%chat``, ``%%chat_complete``, ``%chat_config``, ``%chat_panel``, ``%chat_local`` and
``%chat_history``: thin IPython magics over the conversation engine.

Settings are traitlets (:mod:`.settings`); parsing is ``magic_arguments`` (:mod:`.arguments`);
a turn is run by :class:`lexilux_nb.engine.Engine` into a view from :mod:`.views`.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display
from traitlets import TraitError

from ..client.chat import Chat
from ..client.errors import LexiluxError
from ..client.models import ChatResult
from ..context.cells import CellRecorder
from ..context.prompt import compose_for
from ..defaults import RESULT_VARIABLE
from ..engine import Ask, Engine, Outcome, Turn, TurnInterrupted
from . import arguments, fix, meter, schema_cell
from .config import Endpoint, Target, build_chat, resolve_endpoint, target
from .errors import ChatCellError, ChatInterrupted, describe_error, interrupted_message
from .history_magic import history_command
from .namespace import get_history
from .preview import dry_run
from .settings import ChatConfig, UnknownSetting
from .settings_view import settings_bundle
from .tool_view import tools_of
from .views import Notice, TeeView, TerminalView, WidgetView

STOPPED_EARLY = "stopped before an answer arrived; nothing was added to the history."


@magics_class
class ChatMagics(Magics, ChatConfig):
    """Chat with an OpenAI-compatible model from cells."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._chat: Chat | None = None
        self._chat_key: tuple[Any, ...] | None = None
        self._ended: list[Outcome] = []  # how this cell's turn ended (for late Ctrl-C)
        self.cells = CellRecorder(shell) if shell is not None else None  # for {Out[n]}, {Err}

    def _namespace(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("ChatMagics is not attached to an IPython shell")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    @property
    def rich(self) -> bool:
        """In a notebook (a kernel), not a terminal."""
        return getattr(self.shell, "kernel", None) is not None

    def close(self) -> None:
        """Close the shared client and stop recording cells (on ``%unload_ext``)."""
        if self.cells is not None:
            self.cells.close()
        if self._chat is not None:
            self._chat.close()
            self._chat = None

    # -- where a turn goes -------------------------------------------------------------------

    def endpoint(self, args: Any = None) -> Endpoint:
        return resolve_endpoint(
            os.environ,
            line_base_url=getattr(args, "base_url", None),
            line_model=getattr(args, "model", None),
            line_api_key_env=getattr(args, "api_key_env", None),
            base_url=self.base_url,
            model=self.model,
            api_key_env=self.api_key_env,
            sources={k: self.source_of(k) for k in ("base_url", "model", "api_key_env")},
        )

    def target(self, args: Any = None) -> Target:
        """The endpoint and model for this call; an endpoint without a model is refused here."""
        endpoint = self.endpoint(args)
        chosen = target(endpoint)
        if chosen.model is None:
            raise ChatCellError(
                f"no model for {endpoint.base_url.value} ({endpoint.base_url.source}): "
                "add -m MODEL to the magic line, or set one with %chat_config model=MODEL."
            )
        return chosen

    def client(self, chosen: Target) -> Chat:
        """One ``Chat`` per kernel, rebuilt only when its connection settings change. The embedded
        model is started here, on first use, saying so before the wait."""
        endpoint = chosen.endpoint
        base_url = endpoint.base_url.value
        if base_url is None:
            base_url = self._start_embedded()
        key = (
            base_url,
            endpoint.api_key.value,
            self.provider,
            self.timeout,
            self.max_retries,
            self.deadline_s,
        )
        if self._chat is None or self._chat_key != key:
            if self._chat is not None:
                self._chat.close()
            provider = self.provider
            if endpoint.embedded:
                from ..local import PROVIDER

                provider = provider or PROVIDER
            self._chat = build_chat(
                base_url,
                endpoint,
                provider=provider,
                timeout=self.timeout,
                max_retries=self.max_retries,
                model=chosen.model,
                deadline_s=self.deadline_s,
            )
            self._chat_key = key
        self._chat.model = chosen.model
        return self._chat

    def _start_embedded(self) -> str:
        from ..local import MODEL_NAME, LocalModelUnavailable, ensure_local_endpoint, local_server

        if local_server().running:
            return ensure_local_endpoint()
        notice = Notice(
            f"Starting the embedded model {MODEL_NAME} (first use, a few seconds)…", rich=self.rich
        )
        try:
            url = ensure_local_endpoint()
        except LocalModelUnavailable as exc:
            notice.update("")
            raise ChatCellError(str(exc)) from None
        except BaseException:
            notice.update("")
            raise
        notice.update(
            f"No endpoint is configured, so the embedded model {MODEL_NAME} answers, on this "
            "machine (set LEXILUX_BASE_URL or %chat_config base_url=... to use another)."
        )
        return url

    # -- the chat magics -------------------------------------------------------------------

    @no_var_expand
    @arguments.chat_arguments
    @line_cell_magic
    def chat(self, line: str, cell: str | None = None) -> None:
        """Ask the model: ``%%chat [options]`` (cell = prompt) or ``%chat [options] prompt``."""
        self._ended = []
        try:  # whatever line Ctrl-C reaches, the cell ends with a short message, no traceback
            self._run(self.chat, line, cell, complete=False)
            _deliver_pending_signals()
        except ChatInterrupted:
            raise
        except KeyboardInterrupt:
            if not self._completed():  # else the turn was recorded: too late to stop it
                raise ChatInterrupted(STOPPED_EARLY) from None

    @no_var_expand
    @arguments.complete_arguments
    @line_cell_magic
    def chat_complete(self, line: str, cell: str | None = None) -> None:
        """Like ``%%chat``, but an answer cut off by ``max_tokens`` is continued until complete."""
        self._ended = []
        try:  # as in chat(): written out, since a helper's first line could be interrupted too
            self._run(self.chat_complete, line, cell, complete=True)
            _deliver_pending_signals()
        except ChatInterrupted:
            raise
        except KeyboardInterrupt:
            if not self._completed():
                raise ChatInterrupted(STOPPED_EARLY) from None

    def _completed(self) -> bool:
        """The last turn these magics ran was complete (and so recorded)."""
        return bool(self._ended) and self._ended[-1].state == "complete"

    def _run(self, magic: Any, line: str, cell: str | None, *, complete: bool) -> None:
        options_text, prompt = (line, cell) if cell is not None else arguments.split_line(line)
        if cell is None:
            arguments.check_prompt_start(magic, prompt)
        prompt = prompt.strip()
        args = arguments.parse(magic, options_text)
        if args.fix:  # the last error and its cell's source, sent as they are (not filled)
            prompt, args.no_interpolate = fix.fix_request(self.shell, prompt), True
        args.typed = prompt  # as typed: the budget meter names each {placeholder}'s share
        if not prompt:
            raise UsageError("no prompt: write it after the options, or in the cell body")
        ns = self._namespace()
        chosen = self.target(args)
        notices = list(chosen.notices)
        history = None
        try:  # an unknown {name} or a non-ChatHistory variable: a short error, no traceback
            composed = compose_for(self, prompt, args)  # {name}, {Out[n]}, --context N
            notices += composed.notices
            if not args.no_history:
                history = get_history(ns, args.history or self.history)
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, chosen.endpoint)) from None
        if history is not None and args.new and not args.dry_run:
            history.clear()
        elif history is not None and args.new:
            history = history[:0]  # preview as if cleared; the real history is untouched
        turn = Turn(composed.content, history, key=self._cell_id())
        stream = self.stream and not args.no_stream
        continuation = None
        if complete:
            continuation = {"max_continues": self._max_continues(args), "ensure_complete": False}
        tools = tools_of(args, ns, self)
        ask = Ask(self._options(args, chosen), stream, continuation, tools=tools)
        args.shape = schema_cell.shape_of(args, ns, chosen.endpoint.base_url.value, self.provider)
        ask = schema_cell.shaped(ask, args.shape)
        if composed.bundle():  # what context went with the prompt
            display(composed.bundle(), raw=True)
        if args.dry_run:
            display(dry_run(self, chosen, turn, ask, notices, args.typed), raw=True)
            return
        self._ask(chosen, turn, ask, notices, args)

    def _ask(self, chosen: Target, turn: Turn, ask: Ask, notices: list[str], args: Any) -> None:
        ns = self._namespace()
        ended = self._ended  # filled by the engine, inside its Ctrl-C-proof block
        view: Any = None

        def settled(outcome: Outcome) -> None:
            ended.append(outcome)
            if outcome.state == "failed" and not outcome.result.text:
                return  # nothing arrived: _chat keeps the last answer
            ns[RESULT_VARIABLE] = outcome.result
            if args.out and args.shape is None:  # with --schema: the validated value, below
                ns[args.out] = outcome.result

        try:
            chat = self.client(chosen)
            notices += meter.check(self, chat, turn, ask, args.typed)
            view = self._view(args.format, ask)
            for text in notices:
                view.notice(text)
            Engine(chat, model_label=chosen.label).run(turn, ask, view, settled=settled)
            _deliver_pending_signals()  # a Ctrl-C raised on the engine's last lines lands here
        except KeyboardInterrupt as stop:
            outcome = stop.outcome if isinstance(stop, TurnInterrupted) else None
            outcome = outcome or (ended[-1] if ended else None)
            if outcome is None:  # before anything was sent or shown: tidy the live view away
                if view is not None:
                    view.finish(Outcome(ChatResult(), "interrupted", 0.0, "?"))()
                raise ChatInterrupted(STOPPED_EARLY) from None
            if outcome.state != "complete":  # else it came too late: the turn is recorded
                history = (args.history or self.history) if turn.history is not None else None
                message = interrupted_message(
                    len(outcome.result.text),
                    recorded=outcome.recorded,
                    history=history,
                    out=args.out,
                )
                raise ChatInterrupted(message) from None
        except LexiluxError as exc:  # raised before the engine ran (a bad option, say)
            raise ChatCellError(describe_error(exc, chosen.endpoint)) from None
        error = ended[0].error if ended else None
        if error is not None:
            raise ChatCellError(describe_error(error, chosen.endpoint)) from None
        if args.insert and ended and ended[-1].state == "complete":
            fix.insert_code(self.shell, ended[-1].result.text)
        if args.shape is not None and ended and ended[-1].state == "complete":
            value = args.shape.value(ended[-1].result)
            if args.out:
                ns[args.out] = value

    def _max_continues(self, args: Any) -> int:
        """``--max-continues`` when given (0 included), else the configured default."""
        given: int | None = getattr(args, "max_continues", None)
        return self.max_continues if given is None else given

    def _options(self, args: Any, chosen: Target) -> dict[str, Any]:
        def given(name: str, setting: Any = None) -> Any:
            value = getattr(args, name, None)
            return setting if value is None else value

        options: dict[str, Any] = {
            "model": chosen.model,
            "system": given("system", self.system),
            "temperature": given("temperature", self.temperature),
            "max_tokens": given("max_tokens", self.max_tokens),
            "top_p": given("top_p"),
            "stop": given("stop"),
            "reasoning": arguments.reasoning_setting(given("reasoning")),
            "extra": given("extra") or None,
        }
        return {k: v for k, v in options.items() if v is not None}

    def _view(self, fmt: str, ask: Ask) -> Any:
        if not self.rich:
            return TerminalView()
        rounds = 1 + int(ask.continuation["max_continues"]) if ask.continuation else 1
        view = WidgetView(
            display,
            fmt=fmt,
            continuing=ask.continuation is not None,
            max_rounds=rounds,
            interval=self.update_interval,
            appending=None if self.live_append else False,
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

    # -- configuration ---------------------------------------------------------------------

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
        done = []
        for item in items:
            name, sep, raw = item.partition("=")
            if not sep:
                raise UsageError(
                    f"%chat_config takes key=value, got {item!r} "
                    f"(settings: {', '.join(self.setting_names())})"
                )
            try:
                old, new = self.assign(name, raw)
            except UnknownSetting as exc:
                raise UsageError(
                    f"%chat_config: {exc.args[0]} (settings: {', '.join(self.setting_names())}; "
                    "the API key is read from the variable named by api_key_env)"
                ) from None
            except TraitError as exc:
                raise UsageError(f"%chat_config {name}: {exc}") from None
            done.append(f"{name} = {new!r} (was {old!r})")
        print("set " + "; ".join(done))

    def _show_config(self) -> None:
        display(settings_bundle(self, self.endpoint(), rich=self.rich), raw=True)

    @no_var_expand
    @arguments.panel_arguments
    @line_magic
    def chat_panel(self, line: str) -> None:
        """``%chat_panel [-H NAME] [options]``: a chat box on the same history as ``%%chat``."""
        from .panel import ChatPanel

        args = arguments.parse(self.chat_panel, line)
        try:
            panel = ChatPanel(args.history or self.history, magics=self, args=args)
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, self.endpoint(args))) from None
        panel.auto_continue.value = bool(args.auto_continue)
        display(panel)

    def panel_setup(self, args: Any = None) -> tuple[Engine, Ask, list[str]]:
        """What a chat panel runs its turns with: these settings, and the magic line's options."""
        chosen = self.target(args)
        chat = self.client(chosen)
        continuation = {"max_continues": self._max_continues(args), "ensure_complete": False}
        ask = Ask(
            self._options(args, chosen),
            stream=True,
            continuation=continuation,
            keep_interrupted=True,
            tools=tools_of(args, self.shell.user_ns if self.shell else {}, self),
        )
        return Engine(chat, model_label=chosen.label), ask, list(chosen.notices)

    @line_magic
    def chat_local(self, line: str) -> None:
        """``%chat_local [--status | --stop]``: start, inspect or stop the embedded model."""
        from ..local import local_server, stop_local

        option = line.strip()
        if option not in ("", "--status", "--stop"):
            raise UsageError(f"%chat_local takes --status or --stop, got {option!r}")
        if option == "--stop":
            print(
                "embedded model stopped" if stop_local() else "the embedded model was not running"
            )
            return
        if option == "":
            self._start_embedded()
        status = local_server().status()
        state = f"running at {status['base_url']}" if status["running"] else "not running"
        print(f"embedded model {status['model']}: {state}")

    @line_magic
    def chat_history(self, line: str) -> None:
        """Show, clear, pop, save, load or list chat histories (``%chat_history --help``)."""
        history_command(self._namespace(), line, default=self.history)


def _deliver_pending_signals() -> None:
    """Any Python call lets a pending signal's handler run; here, inside the caller's ``try``."""


def current_magics() -> ChatMagics | None:
    """The ``ChatMagics`` of the running IPython, if the extension is loaded there."""
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    found = shell.magics_manager.registry.get("ChatMagics")
    return found if isinstance(found, ChatMagics) else None


def standalone_magics() -> ChatMagics:
    """Settings for a panel made where the extension is not loaded (defaults and environment)."""
    return ChatMagics(shell=None)
