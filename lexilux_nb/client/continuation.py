"""Auto-continuation of answers cut off by a token cap, as a pure state machine.

The cap is ``max_tokens`` or ``max_completion_tokens`` (OpenAI's name, what its reasoning
models take): either way a cut answer ends with ``finish_reason == "length"``, which is all
the machine looks at. Continuation extends one answer, so ``n`` must be 1.

:class:`Continuation` decides what to send next and how to stitch; the four drivers in
``chat.py`` (sync/async × streaming/not) only perform its :class:`Round` requests and report
back results or errors. :class:`SeamTrimmer` removes a continuation's repeat of the previous
tail; it reaches the same decision whether the text arrives at once or as stream deltas.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import (
    ChatIncompleteResponseError,
    ChatStreamInterruptedError,
    LexiluxError,
    ValidationError,
)
from .messages import content_text
from .models import ChatResult, ChatStreamChunk, ToolCall, Usage
from .options import ChatParams, HistoryOptions
from .responses import merge_logprobs

# Short on purpose: small models echo their whole answer back when given a long instruction
# (measured with SmolLM2-135M); large ones follow this one just as well.
DEFAULT_CONTINUE_PROMPT = "Continue exactly where you stopped, without repeating anything."
MIN_OVERLAP = 6  # shorter repeats are too likely to be legitimate text
SEAM_WINDOW = 600  # how much of the previous tail a repeat is searched in
PREFILL_PROVIDERS = frozenset({"anthropic", "vllm", "deepseek", "llamacpp"})

ContinuePrompt = str | Callable[[int, int, str, str], str]
Strategy = Literal["auto", "prompt", "prefill"]
OnError = Literal["raise", "return_partial"]


class CompleteOptions(HistoryOptions, total=False):
    """The chat options plus the continuation settings of ``complete`` and its siblings."""

    max_continues: int
    ensure_complete: bool
    continue_prompt: ContinuePrompt
    on_progress: Callable[[ContinueProgress], None] | None
    continue_delay: float | tuple[float, float]
    on_error: OnError
    on_error_callback: Callable[[BaseException, ChatResult], ChatResult | None] | None
    strategy: Strategy


@dataclass(frozen=True, slots=True)
class ContinueSettings:
    max_continues: int = 5
    ensure_complete: bool = True
    continue_prompt: ContinuePrompt = DEFAULT_CONTINUE_PROMPT
    on_progress: Callable[[ContinueProgress], None] | None = None
    continue_delay: float | tuple[float, float] = 0.0
    on_error: OnError = "raise"
    on_error_callback: Callable[[BaseException, ChatResult], ChatResult | None] | None = None
    strategy: Strategy = "auto"


SETTING_NAMES = frozenset(ContinueSettings.__slots__)


def split_options(options: Mapping[str, Any]) -> tuple[ContinueSettings, dict[str, Any]]:
    """Separate continuation settings from chat options, validating the former."""
    settings = ContinueSettings(**{k: v for k, v in options.items() if k in SETTING_NAMES})
    rest = {k: v for k, v in options.items() if k not in SETTING_NAMES}
    n = settings.max_continues
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValidationError(f"max_continues must be an integer >= 0, got {n!r}")
    if settings.strategy not in ("auto", "prompt", "prefill"):
        raise ValidationError(
            f"strategy must be 'auto', 'prompt' or 'prefill', got {settings.strategy!r}"
        )
    if settings.on_error not in ("raise", "return_partial"):
        raise ValidationError(
            f"on_error must be 'raise' or 'return_partial', got {settings.on_error!r}"
        )
    _check_delay(settings.continue_delay)
    params = rest.get("params")
    choices = rest.get("n") or (params.n if isinstance(params, ChatParams) else None)
    if choices is not None and choices != 1:
        raise ValidationError(f"continuation extends one answer: n must be 1, got {choices!r}")
    if not (isinstance(settings.continue_prompt, str) or callable(settings.continue_prompt)):
        raise ValidationError(
            "continue_prompt must be a string or a callable "
            f"(count, max_count, text_so_far, original_prompt) -> str, "
            f"got {settings.continue_prompt!r}"
        )
    for name in ("on_progress", "on_error_callback"):
        hook = getattr(settings, name)
        if hook is not None and not callable(hook):
            raise ValidationError(f"{name} must be a callable or None, got {hook!r}")
    return settings, rest


def _check_delay(delay: Any) -> None:
    """A delay of seconds >= 0, or a ``(min, max)`` range with 0 <= min <= max."""

    def seconds(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0

    ok = (
        seconds(delay)
        if not isinstance(delay, tuple | list)
        else len(delay) == 2 and all(map(seconds, delay)) and delay[0] <= delay[1]
    )
    if not ok:
        raise ValidationError(
            f"continue_delay must be seconds >= 0 or a (min, max) range, got {delay!r}"
        )


@dataclass(frozen=True, slots=True)
class ContinueProgress:
    """Reported after every round: what the notebook progress widget shows."""

    round: int  # requests completed so far (1 = the first answer)
    max_rounds: int  # 1 + max_continues
    text: str  # stitched text so far
    tokens: int | None  # output tokens so far (None if the server reports no usage)
    finish_reason: str | None  # of the last round
    done: bool = False
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Round:
    """Send these messages (after waiting ``delay`` seconds)."""

    messages: list[dict[str, Any]]
    index: int  # 0 = the original request
    delay: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


class SeamTrimmer:
    """Drops the start of a continuation that repeats the end of the text before it."""

    def __init__(self, previous: str) -> None:
        self._tail = previous[-SEAM_WINDOW:]
        self._buffer = ""
        self._decided = not previous

    def feed(self, delta: str) -> str:
        """Text that is safe to show now (possibly empty while a repeat is still possible)."""
        if self._decided:
            return delta
        self._buffer += delta
        if self._buffer in self._tail and len(self._buffer) < SEAM_WINDOW:
            return ""  # could still be a repeat: hold it
        return self._decide()

    def flush(self) -> str:
        return "" if self._decided else self._decide()

    def _decide(self) -> str:
        self._decided = True
        buffer, self._buffer = self._buffer, ""
        for k in range(min(len(buffer), len(self._tail)), MIN_OVERLAP - 1, -1):
            if self._tail.endswith(buffer[:k]):
                return buffer[k:]
        return buffer


def trim_seam(previous: str, new: str) -> str:
    trimmer = SeamTrimmer(previous)
    return trimmer.feed(new) + trimmer.flush()


def _delay(setting: float | tuple[float, float], rand: Callable[[], float]) -> float:
    if isinstance(setting, tuple | list):
        low, high = setting
        return low + (high - low) * rand()
    return float(setting)


class Continuation:
    """The state machine: ``start()``, then ``on_result``/``on_error`` until a result comes back."""

    def __init__(
        self,
        messages: Sequence[dict[str, Any]],
        settings: ContinueSettings,
        *,
        provider: str = "generic",
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._base = list(messages)
        self._settings = settings
        self._rand = rand
        strategy = settings.strategy
        if strategy == "auto":
            strategy = "prefill" if provider in PREFILL_PROVIDERS else "prompt"
        self.strategy = strategy
        self._provider = provider
        self._original_prompt = next(
            (
                content_text(m.get("content"), placeholders=False)
                for m in reversed(self._base)
                if m.get("role") == "user"
            ),
            "",
        )
        self._rounds: list[ChatResult] = []
        self._cut: ChatResult | None = None  # a streamed round that was cut mid-way
        self._texts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._texts)

    @property
    def continues(self) -> int:
        return max(0, len(self._rounds) - 1)

    def start(self) -> Round:
        return Round(list(self._base), 0)

    def trimmer(self) -> SeamTrimmer:
        """A trimmer for the round being streamed now."""
        return SeamTrimmer(self.text)

    # -- transitions -----------------------------------------------------------------------

    def on_result(self, result: ChatResult) -> Round | ChatResult:
        """A round finished: stitch it, then continue, finish, or give up."""
        added = trim_seam(self.text, result.text)
        first = not self._rounds
        self._rounds.append(result)
        self._texts.append(added)
        truncated = result.finish_reason == "length"
        stalled = not first and truncated and not added.strip()
        exhausted = self.continues >= self._settings.max_continues
        if truncated and not stalled and not exhausted:
            self._progress(result.finish_reason, done=False)
            return self._next_round()
        merged = self.merged(truncated=truncated)
        self._progress(result.finish_reason, done=True, truncated=truncated)
        if truncated and self._settings.ensure_complete:
            why = "a continuation added nothing new" if stalled else "max_continues was reached"
            raise ChatIncompleteResponseError(
                f"the answer is still cut off after {self.continues} continuation(s): {why}",
                partial_result=merged,
                continues=self.continues,
            )
        return merged

    def on_error(self, error: LexiluxError) -> ChatResult:
        """A round failed. The first request's error propagates; later ones follow ``on_error``."""
        if not self._rounds:
            raise error
        if isinstance(error, ChatStreamInterruptedError):  # keep what was already shown
            self._texts.append(trim_seam(self.text, error.partial_result.text))
            self._cut = error.partial_result  # its reasoning, usage and tool calls count too
        partial = self.merged(truncated=True)
        callback = self._settings.on_error_callback
        if callback is not None:
            replacement = callback(error, partial)
            if replacement is not None:
                return replacement
        if self._settings.on_error == "return_partial":
            return partial
        raise ChatIncompleteResponseError(
            f"continuation round {len(self._rounds)} failed: {error}",
            partial_result=partial,
            continues=self.continues,
            cause=error,
        ) from error

    # -- building --------------------------------------------------------------------------

    def _next_round(self) -> Round:
        so_far = self.text
        index = len(self._rounds)
        messages = list(self._base)
        extra: dict[str, Any] = {}
        if self.strategy == "prefill":
            partial: dict[str, Any] = {"role": "assistant", "content": so_far}
            if self._provider == "deepseek":
                partial["prefix"] = True
            if self._provider == "vllm":
                extra = {"continue_final_message": True, "add_generation_prompt": False}
            messages.append(partial)
        else:
            prompt = self._settings.continue_prompt
            if callable(prompt):
                prompt = prompt(index, self._settings.max_continues, so_far, self._original_prompt)
            messages += [
                {"role": "assistant", "content": so_far},
                {"role": "user", "content": prompt},
            ]
        return Round(messages, index, _delay(self._settings.continue_delay, self._rand), extra)

    def merged(self, *, truncated: bool) -> ChatResult:
        """All rounds as one answer: stitched text, summed usage, every tool call kept."""
        rounds = self._rounds
        usage = Usage()
        calls: list[ToolCall] = []
        reasoning = []
        logprobs: dict[str, Any] | None = None
        for r in rounds + ([self._cut] if self._cut is not None else []):
            usage = usage + r.usage
            calls += r.tool_calls
            if r.reasoning:
                reasoning.append(r.reasoning)
            logprobs = merge_logprobs(logprobs, r.logprobs, "round")
        first = rounds[0] if rounds else ChatResult()
        last = rounds[-1] if rounds else ChatResult()
        answer = replace(
            first,
            text=self.text,
            finish_reason=last.finish_reason,
            usage=usage,
            tool_calls=calls,
            reasoning="".join(reasoning) or None,
            logprobs=logprobs,
            raw={"rounds": [r.raw for r in rounds]} if any(r.raw for r in rounds) else None,
            continues=self.continues,
            truncated=truncated,
            interrupted=self._cut is not None or any(r.interrupted for r in rounds),
            choices=[],
        )
        return _one_choice(answer)

    def _progress(self, finish_reason: str | None, *, done: bool, truncated: bool = False) -> None:
        hook = self._settings.on_progress
        if hook is None:
            return
        tokens = [r.usage.output_tokens for r in self._rounds]
        total = None if all(t is None for t in tokens) else sum(t or 0 for t in tokens)
        hook(
            ContinueProgress(
                len(self._rounds),
                self._settings.max_continues + 1,
                self.text,
                total,
                finish_reason,
                done,
                truncated,
            )
        )


class ShownRounds:
    """What the sync and async continuing-stream drivers share, as plain state.

    Each round's chunks pass through a :class:`SeamTrimmer` before the caller sees them; the text
    shown so far is the partial result if the stream stops early; round ends are hidden and one
    ``done`` chunk closes the whole answer.
    """

    def __init__(self, machine: Continuation) -> None:
        self._machine = machine
        self._trimmer = SeamTrimmer("")
        self._shown: list[str] = []
        self._final: ChatResult | None = None

    def begin_round(self) -> None:
        self._trimmer = self._machine.trimmer()

    def show(self, chunk: ChatStreamChunk) -> ChatStreamChunk | None:
        """The chunk as the caller sees it (trimmed), or None."""
        if chunk.done:
            return None
        text = self._trimmer.feed(chunk.delta) if chunk.delta else ""
        if not (text or chunk.reasoning_content or chunk.refusal):
            return None
        self._shown.append(text)
        return ChatStreamChunk(
            text, False, None, chunk.usage, [], chunk.reasoning_content, chunk.raw, chunk.refusal
        )

    def end_round(self, error: LexiluxError | None = None) -> ChatStreamChunk | None:
        """Text held back as a possible repeat, once the round is over (or cut off)."""
        if error is not None and not isinstance(error, ChatStreamInterruptedError):
            return None
        tail = self._trimmer.flush()
        if not tail:
            return None
        self._shown.append(tail)
        return ChatStreamChunk(tail)

    def done(self, result: ChatResult) -> ChatStreamChunk:
        self._final = result
        return ChatStreamChunk(
            "", True, result.finish_reason, result.usage, list(result.tool_calls), None, None
        )

    def result(self) -> ChatResult:
        """The final answer, or before the end every round so far, as shown."""
        if self._final is not None:
            return self._final
        return _one_choice(replace(self._machine.merged(truncated=True), text="".join(self._shown)))


def _one_choice(answer: ChatResult) -> ChatResult:
    """The stitched answer is the one choice it continued: ``choices`` says so."""
    answer.choices = [
        replace(answer, usage=Usage(), raw=None, tool_calls=list(answer.tool_calls), choices=[])
    ]
    return answer
