"""``%%chat_map``: one prompt (the cell body, a template) over every row of a DataFrame, a Series
or a list in the namespace; the answers come back as a new column (or variable).

A thin caller of ``Chat.map``: the endpoint, model and client are the ones ``%%chat`` uses
(``%chat_config``), the progress bar is the notebook's :class:`~.map_progress.MapBar`. An
interrupt (Ctrl-C, the stop button) keeps the rows that were answered: they are written, the
others are left missing, and the message says how to resume (``--cache``).
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments

from ..client.errors import LexiluxError
from ..client.map_inputs import _is_frame, _is_series, results_frame
from ..client.mapping import MapResults
from .errors import ChatCellError, describe_error

RESULTS_VARIABLE = "_chat_map"  # the MapResults of the last %%chat_map


@magic_arguments()
@argument("-i", "--input", required=True, help="Variable: a DataFrame, a Series or a list.")
@argument("-c", "--column", help="Column whose value fills {} in the template.")
@argument("-o", "--out", default="answer", help="New column (or variable) for the answers.")
@argument("--schema", help="Variable holding a pydantic model or JSON schema: one row each.")
@argument("--concurrency", type=int, default=8, help="Requests at the same time (8).")
@argument("--rate-limit", type=float, help="At most this many requests per second.")
@argument("--cache", metavar="PATH", help="sqlite file: a re-run sends only unfinished rows.")
@argument(
    "--on-error",
    choices=("keep", "raise"),
    default="keep",
    help="keep (default): a "
    "failed row gets its error in OUT_error; raise: stop at the first failure.",
)
@argument("--no-progress", action="store_true", help="No progress bar.")
@argument("-m", "--model", help="Model name for this run.")
@argument("-s", "--system", help="System prompt sent with every row.")
@argument("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2.")
@argument("--max-tokens", type=int, help="Cap on each answer's length in tokens.")
def _parser(line: str) -> None:
    """%%chat_map -i DF [-c COLUMN] [-o OUT] [--schema NAME] [--concurrency N] ..."""


@magics_class
class MapMagics(Magics):
    """``%%chat_map``; its settings and client are those of :class:`~.magics.ChatMagics`."""

    @no_var_expand
    @cell_magic
    def chat_map(self, line: str, cell: str) -> None:
        """Run the cell body, a template such as ``Classify: {text}``, over every row of ``-i``."""
        try:
            args = _parser.parser.parse_args(shlex.split(line))
        except (UsageError, ValueError) as exc:
            raise UsageError(f"%%chat_map: {exc}\n{_parser.__doc__}") from None
        template = cell.strip()
        if not template:
            raise UsageError("%%chat_map: the cell body is the template, e.g. Classify: {text}")
        if not args.out.isidentifier():
            raise UsageError(f"-o/--out needs a name, got {args.out!r}")
        if self.shell is None:
            raise UsageError("%%chat_map needs an IPython shell")
        ns: dict[str, Any] = self.shell.user_ns
        items = _lookup(ns, args.input, "-i/--input")
        schema = _lookup(ns, args.schema, "--schema") if args.schema else None
        chat_magics = self.shell.magics_manager.registry["ChatMagics"]
        chosen = chat_magics.target(args)
        options = chat_magics._options(args, chosen)
        try:
            chat = chat_magics.client(chosen)
            results = chat.map(
                items,
                template,
                column=args.column,
                concurrency=args.concurrency,
                rate_limit=args.rate_limit,
                on_error=args.on_error,
                progress=not args.no_progress,
                cache=args.cache,
                schema=schema,
                **options,
            )
        except LexiluxError as exc:
            raise ChatCellError(describe_error(exc, chosen.endpoint)) from None
        ns[RESULTS_VARIABLE] = results
        where = write_back(ns, args.input, items, args.out, results, schema is not None)
        _report(results, where, args.cache, _error_place(args.input, items, args.out))


def _lookup(ns: dict[str, Any], name: str, flag: str) -> Any:
    if name not in ns:
        raise UsageError(f"{flag}: there is no variable {name!r} in the notebook")
    return ns[name]


def write_back(
    ns: dict[str, Any], name: str, items: Any, out: str, results: MapResults, rows: bool
) -> str:
    """Put the answers where the user looks: new columns of the DataFrame (in place), or a new
    variable (a Series for a Series, else a list). Failed rows are missing; their errors go
    to ``OUT_error`` (a column, or a variable) when there are any."""
    index = items.index if (_is_frame(items) or _is_series(items)) else None
    if _is_frame(items) or _is_series(items) or rows:
        frame = results_frame(results, index=index)
    else:
        frame = None
    failed = bool(results.errors)
    if _is_frame(items):
        assert frame is not None
        fields = [c for c in frame.columns if c != "error"]
        if rows:
            for field in fields:
                items[field] = frame[field]
            written = ", ".join(f"{name}[{f!r}]" for f in fields)
        else:
            items[out] = frame["text"]
            written = f"{name}[{out!r}]"
        if failed:
            items[f"{out}_error"] = frame["error"]
        return written
    if frame is not None and _is_series(items) and not rows:
        ns[out] = frame["text"].rename(out)
    elif frame is not None:
        ns[out] = frame.drop(columns="error")
    else:
        ns[out] = [None if isinstance(r, BaseException) else r.text for r in results]
    if failed:
        ns[f"{out}_error"] = {i: f"{type(e).__name__}: {e}" for i, e in results.errors.items()}
    return out


def _error_place(name: str, items: Any, out: str) -> str:
    return f"{name}[{out + '_error'!r}]" if _is_frame(items) else f"{out}_error"


def _report(results: MapResults, where: str, cache: str | None, errors: str) -> None:
    stats = results.stats
    if stats.interrupted:
        resume = (
            f" Run the cell again to send only the rest (--cache {cache} keeps the answered ones)."
            if cache
            else " Add --cache PATH to resume a run instead of starting again."
        )
        print(
            f"Interrupted: {stats.done} of {stats.total} rows answered and written to {where}; "
            f"the others are missing.{resume}",
            file=sys.stderr,
        )
    elif stats.failed:
        print(
            f"{stats.failed} of {stats.total} rows failed: their errors are in {errors} "
            f"(and in {RESULTS_VARIABLE}); the answers are in {where}.",
            file=sys.stderr,
        )
