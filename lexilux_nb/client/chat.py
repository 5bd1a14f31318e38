"""``Chat``: configuration plus the sync and async drivers, each a few lines over the pure parts.

Every public method takes the same ``**options`` (typed once as :class:`ChatOptions`), turns
them into one :class:`PreparedRequest` in :meth:`Chat.prepare`, and hands it to a driver that
runs the shared retry flow around one transport attempt.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .. import __version__
from . import batch as _batch
from . import deadline as deadlines
from . import mapping as _mapping
from . import structured
from . import toolloop as tools
from .accumulate import StreamAccumulator
from .continuation import CompleteOptions, Continuation, Round, ShownRounds, split_options
from .errors import (
    ConfigurationError,
    LexiluxError,
    Secret,
    ValidationError,
    mask_secret,
    scrubbed,
)
from .logredact import register
from .models import ChatResult
from .options import ChatOptions, HistoryOptions, resolve
from .protocol import build_body, build_messages, detect_provider, parse_completion
from .retry import Clock, RateLimiter, RetryPolicy, SystemClock, retry_flow
from .streaming import (
    AsyncChunkGen,
    AsyncStreamingIterator,
    ChunkGen,
    StreamingIterator,
    asingle_stream,
    single_stream,
)
from .toolloop import uses_tools
from .transport import (
    HttpClients,
    OpenedStream,
    PreparedRequest,
    aopen_stream,
    asend,
    open_stream,
    send_json,
)

if TYPE_CHECKING:
    from typing import Unpack

    from .history import ChatHistory

log = logging.getLogger("lexilux_nb")
T = TypeVar("T")
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})


def _timeout(total: float | None, connect: float | None, read: float | None) -> httpx.Timeout:
    """Any one timeout may be given alone; the others fall back to the total (60 s)."""
    default = 60.0 if total is None else total
    for name, value in (
        ("timeout_s", total),
        ("connect_timeout_s", connect),
        ("read_timeout_s", read),
    ):
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValidationError(
                f"{name} must be a finite positive number of seconds, got {value!r}"
            )
    return httpx.Timeout(
        default,
        connect=default if connect is None else connect,
        read=default if read is None else read,
    )


class Chat:
    """A client for one OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        timeout_s: float | None = 60.0,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        proxies: Mapping[str, str] | None = None,
        rate_limit: tuple[int, float] | None = None,
        verify: bool | str = True,
        provider: str | None = None,
        deadline_s: float | None = None,
        clock: Clock | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if not base_url or not isinstance(base_url, str):
            raise ConfigurationError(
                "base_url is required, e.g. Chat(base_url='https://api.openai.com/v1', ...)"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url must start with http:// or https://, got {base_url!r}"
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValidationError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.provider = detect_provider(self.base_url, provider)
        self._api_key = Secret(api_key) if isinstance(api_key, str) and api_key else api_key
        self._headers = dict(headers or {})  # a copy: the caller's dict is never touched
        self._timeout = _timeout(timeout_s, connect_timeout_s, read_timeout_s)
        self.deadline_s = deadlines.check_deadline(deadline_s)  # the whole call, retries and all
        self._retry = RetryPolicy(max_retries=max_retries)
        self._limiter = RateLimiter(*rate_limit) if rate_limit else None
        self._clock: Clock = clock or SystemClock()
        self._http = HttpClients(
            timeout=self._timeout,
            proxies=proxies,
            verify=verify,
            given=http_client,
            agiven=async_http_client,
        )
        register(self)  # its secrets are masked in every error and log record while it lives

    # -- configuration views ---------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def headers(self) -> dict[str, str]:
        """A copy of the extra headers given at construction."""
        return dict(self._headers)

    @property
    def timeout(self) -> httpx.Timeout:
        return self._timeout

    @property
    def max_retries(self) -> int:
        return self._retry.max_retries

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never be shown: the key, auth-like header values, proxy credentials."""
        found: list[str] = [self._api_key] if self._api_key else []
        found += [v for k, v in self._headers.items() if k.lower() in SECRET_HEADERS and v]
        found += self._http.secrets  # proxy credentials
        return tuple(found)

    def __repr__(self) -> str:
        return (
            f"Chat(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key={mask_secret(self._api_key)!r}, provider={self.provider!r})"
        )

    # -- the pure part ---------------------------------------------------------------------

    def prepare(
        self, messages: Any, *, stream: bool = False, **options: Unpack[HistoryOptions]
    ) -> PreparedRequest:
        """Validate and build the exact request a call would send (nothing is sent)."""
        opts = resolve(self.model, options)
        wire = build_messages(messages, system=opts.system, history=options.get("history"))
        body = build_body(wire, opts, stream=stream, provider=self.provider)
        url = self.base_url
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        headers = {
            "User-Agent": f"lexilux-nb/{__version__}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        for name, value in self._headers.items():  # the caller's spelling wins, in any case
            for default in [k for k in headers if k.lower() == name.lower()]:
                del headers[default]
            headers[name] = value
        deadline_s = self.deadline_s if opts.deadline_s is None else opts.deadline_s
        return PreparedRequest(url, headers, body, stream, self.secrets, deadline_s)

    def _accumulator(self, options: Mapping[str, Any]) -> StreamAccumulator:
        return StreamAccumulator(secrets=self.secrets, keep_raw=bool(options.get("return_raw")))

    # -- drivers: the same retry flow, sync and async --------------------------------------

    def _retrying(self, attempt: Callable[[], T], req: PreparedRequest | None = None) -> T:
        with deadlines.scope(req.deadline_s if req else None, self._clock):
            flow = retry_flow(self._retry, self._limiter, self._clock)
            wait = next(flow)
            while True:
                if wait > 0:
                    self._clock.sleep(wait)
                try:
                    return attempt()
                except LexiluxError as exc:
                    wait = flow.send(exc)  # re-raises exc when no retry is left
                    log.info("retrying in %.2fs after %s", wait, exc)

    async def _aretrying(
        self, attempt: Callable[[], Awaitable[T]], req: PreparedRequest | None = None
    ) -> T:
        with deadlines.scope(req.deadline_s if req else None, self._clock):
            return await self._aretry_loop(attempt)

    async def _aretry_loop(self, attempt: Callable[[], Awaitable[T]]) -> T:
        flow = retry_flow(self._retry, self._limiter, self._clock)
        wait = next(flow)
        while True:
            if wait > 0:
                await self._clock.asleep(wait)
            try:
                return await attempt()
            except LexiluxError as exc:
                wait = flow.send(exc)
                log.info("retrying in %.2fs after %s", wait, exc)

    # -- public calls ----------------------------------------------------------------------

    def __call__(self, messages: Any, **options: Unpack[HistoryOptions]) -> ChatResult:
        """Send ``messages`` and return the whole answer (Python ``tools=``: the tool loop's)."""
        if uses_tools(options):
            return tools.run_tools(self, messages, **options)
        req = self.prepare(messages, **options)
        data = self._retrying(lambda: send_json(self._http.sync, req), req)
        return scrubbed(parse_completion, data, bool(options.get("return_raw")), req.secrets)

    call = __call__

    def stream(self, messages: Any, **options: Unpack[HistoryOptions]) -> StreamingIterator:
        """Stream the answer chunk by chunk; the request is sent on first iteration."""
        if uses_tools(options):
            return tools.stream_tools(self.stream, messages, **options)
        req = self.prepare(messages, stream=True, **options)
        acc = self._accumulator(options)

        def opener() -> OpenedStream:
            return self._retrying(lambda: open_stream(self._http.sync, req), req)

        return StreamingIterator(lambda: single_stream(opener, acc, req.secrets), acc.result)

    async def acall(self, messages: Any, **options: Unpack[HistoryOptions]) -> ChatResult:
        """Async :meth:`__call__`."""
        if uses_tools(options):
            return await tools.arun_tools(self.acall, messages, **options)
        req = self.prepare(messages, **options)
        data = await self._aretrying(lambda: asend(self._http, req), req)
        return scrubbed(parse_completion, data, bool(options.get("return_raw")), req.secrets)

    def astream(self, messages: Any, **options: Unpack[HistoryOptions]) -> AsyncStreamingIterator:
        """Async :meth:`stream`: ``async for`` it directly, or ``await`` it first to connect."""
        if uses_tools(options):
            return tools.astream_tools(self.astream, messages, **options)
        req = self.prepare(messages, stream=True, **options)
        acc = self._accumulator(options)

        async def opener() -> OpenedStream:
            return await self._aretrying(lambda: aopen_stream(self._http.async_, req), req)

        return AsyncStreamingIterator(lambda: asingle_stream(opener, acc, req.secrets), acc.result)

    def chat_with_history(
        self, history: ChatHistory, message: Any = None, **options: Unpack[ChatOptions]
    ) -> ChatResult:
        """Send the history (plus ``message`` if given); the history itself is not changed."""
        return self(message, history=history, **options)

    def stream_with_history(
        self, history: ChatHistory, message: Any = None, **options: Unpack[ChatOptions]
    ) -> StreamingIterator:
        """Streaming :meth:`chat_with_history`."""
        return self.stream(message, history=history, **options)

    async def achat_with_history(
        self, history: ChatHistory, message: Any = None, **options: Unpack[ChatOptions]
    ) -> ChatResult:
        return await self.acall(message, history=history, **options)

    def astream_with_history(
        self, history: ChatHistory, message: Any = None, **options: Unpack[ChatOptions]
    ) -> AsyncStreamingIterator:
        return self.astream(message, history=history, **options)

    # -- auto-continuation: one state machine, four thin drivers ---------------------------

    def _continuation(
        self, messages: Any, options: Mapping[str, Any]
    ) -> tuple[Continuation, dict[str, Any]]:
        """The machine for this call, and the chat options every round is sent with."""
        settings, chat_options = split_options(options)
        opts = resolve(self.model, chat_options)  # validate before anything is sent
        wire = build_messages(messages, system=opts.system, history=chat_options.get("history"))
        round_options = {k: v for k, v in chat_options.items() if k not in ("history", "system")}
        return Continuation(wire, settings, provider=self.provider), round_options

    @staticmethod
    def _round_options(step: Round, options: dict[str, Any]) -> dict[str, Any]:
        if not step.extra:
            return options
        return {**options, "extra": {**(options.get("extra") or {}), **step.extra}}

    def complete(self, messages: Any, **options: Unpack[CompleteOptions]) -> ChatResult:
        """Like calling the chat, but an answer cut off by ``max_tokens`` is continued."""
        if uses_tools(options):
            return tools.run_tools(self.complete, messages, **options)
        machine, round_options = self._continuation(messages, options)
        step: Round | ChatResult = machine.start()
        while isinstance(step, Round):
            if step.delay:
                self._clock.sleep(step.delay)
            try:
                result = self(step.messages, **self._round_options(step, round_options))
            except LexiluxError as exc:
                step = machine.on_error(exc)
            else:
                step = machine.on_result(result)
        return step

    async def acomplete(self, messages: Any, **options: Unpack[CompleteOptions]) -> ChatResult:
        """Async :meth:`complete`."""
        if uses_tools(options):
            return await tools.arun_tools(self.acomplete, messages, **options)
        machine, round_options = self._continuation(messages, options)
        step: Round | ChatResult = machine.start()
        while isinstance(step, Round):
            if step.delay:
                await self._clock.asleep(step.delay)
            try:
                result = await self.acall(step.messages, **self._round_options(step, round_options))
            except LexiluxError as exc:
                step = machine.on_error(exc)
            else:
                step = machine.on_result(result)
        return step

    def complete_stream(
        self, messages: Any, **options: Unpack[CompleteOptions]
    ) -> StreamingIterator:
        """Stream every round of :meth:`complete` as one answer (seams trimmed live)."""
        if uses_tools(options):
            return tools.stream_tools(self.complete_stream, messages, **options)
        machine, round_options = self._continuation(messages, options)
        shown = ShownRounds(machine)

        def run() -> ChunkGen:
            step: Round | ChatResult = machine.start()
            while isinstance(step, Round):
                if step.delay:
                    self._clock.sleep(step.delay)
                stream = self.stream(step.messages, **self._round_options(step, round_options))
                shown.begin_round()
                try:
                    for chunk in stream:
                        if (out := shown.show(chunk)) is not None:
                            yield out
                    if (tail := shown.end_round()) is not None:
                        yield tail
                except LexiluxError as exc:
                    if (tail := shown.end_round(exc)) is not None:
                        yield tail
                    step = machine.on_error(exc)
                else:
                    step = machine.on_result(stream.result)
            yield shown.done(step)

        return StreamingIterator(run, shown.result)

    def acomplete_stream(
        self, messages: Any, **options: Unpack[CompleteOptions]
    ) -> AsyncStreamingIterator:
        """Async :meth:`complete_stream`."""
        if uses_tools(options):
            return tools.astream_tools(self.acomplete_stream, messages, **options)
        machine, round_options = self._continuation(messages, options)
        shown = ShownRounds(machine)

        async def run() -> AsyncChunkGen:
            step: Round | ChatResult = machine.start()
            while isinstance(step, Round):
                if step.delay:
                    await self._clock.asleep(step.delay)
                stream = self.astream(step.messages, **self._round_options(step, round_options))
                shown.begin_round()
                try:
                    async for chunk in stream:
                        if (out := shown.show(chunk)) is not None:
                            yield out
                    if (tail := shown.end_round()) is not None:
                        yield tail
                except LexiluxError as exc:
                    if (tail := shown.end_round(exc)) is not None:
                        yield tail
                    step = machine.on_error(exc)
                else:
                    step = machine.on_result(stream.result)
            yield shown.done(step)

        return AsyncStreamingIterator(run, shown.result)

    # -- structured output, batch over data, the Batch API: functions of a Chat, bound here --
    extract = structured.extract  # the answer as a validated schema value
    aextract = structured.aextract
    map = _mapping.map_items  # one prompt per item, concurrently, in item order
    amap = _mapping.amap
    # the provider Batch API: chat.batch(items).results(), chat.batch_job(id) after a restart
    batch = _batch.submit
    abatch = _batch.asubmit
    batch_job = _batch.job
    batch_file = _batch.write_file

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Chat:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
