"""``%chat_usage``: what this session sent and spent, per model (every surface counts: cells, the
panel and the Python API record into one ledger, :mod:`lexilux_nb.engine.usage`)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from ..engine.usage import LEDGER, ModelTotals, format_cost

TITLE = "lexilux_nb usage this session"
CELL = "padding:1px 14px 1px 0;text-align:right;vertical-align:top"
FIRST = "padding:1px 14px 1px 0;text-align:left;vertical-align:top"
HEAD = "border-bottom:1px solid var(--jp-border-color2, #d0d7de)"
COLUMNS = ("model", "requests", "tokens in", "tokens out", "cost")


def _cost(totals: ModelTotals) -> str:
    if totals.cost is None:
        return "unknown"
    known = format_cost(totals.cost)
    return known if not totals.unpriced else f"{known} + {totals.unpriced} unpriced"


def usage_rows(found: Sequence[ModelTotals]) -> list[tuple[str, ...]]:
    """One row per model, then the total (when there is more than one model)."""
    table: list[tuple[str, ...]] = [
        (t.model, f"{t.requests:,}", f"{t.input_tokens:,}", f"{t.output_tokens:,}", _cost(t))
        for t in found
    ]
    if len(found) > 1:
        priced = [t.cost for t in found if t.cost is not None]
        whole = ModelTotals(
            "total",
            sum(t.requests for t in found),
            sum(t.input_tokens for t in found),
            sum(t.output_tokens for t in found),
            sum(priced) if priced else None,
            sum(t.unpriced for t in found),
        )
        table += usage_rows([whole])
    return table


def usage_bundle(found: Sequence[ModelTotals], *, rich: bool) -> dict[str, str]:
    """Plain text always; an inert HTML table in a notebook (model names escaped)."""
    if not found:
        return {"text/plain": f"{TITLE}: no requests yet."}
    table = usage_rows(found)
    width = [max(len(r[i]) for r in [COLUMNS, *table]) for i in range(len(COLUMNS))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            f"{v:<{width[i]}}" if i == 0 else f"{v:>{width[i]}}" for i, v in enumerate(values)
        )

    text = "\n".join([TITLE, "", line(COLUMNS), *(line(r) for r in table)])
    if not rich:
        return {"text/plain": text}

    def row(values: Sequence[str], tag: str = "td", extra: str = "") -> str:
        cells = "".join(
            f"<{tag} style='{FIRST if i == 0 else CELL}{extra}'>{html.escape(v)}</{tag}>"
            for i, v in enumerate(values)
        )
        return f"<tr>{cells}</tr>"

    body = row(COLUMNS, "th", ";" + HEAD) + "".join(row(r) for r in table)
    markup = (
        f"<div class='lexilux-usage'><div style='font-weight:600;margin-bottom:4px'>"
        f"{html.escape(TITLE)}</div><table>{body}</table></div>"
    )
    return {"text/html": markup, "text/plain": text}


@magics_class
class UsageMagics(Magics):
    """``%chat_usage [--clear]``."""

    @line_magic
    def chat_usage(self, line: str) -> None:
        """The session's requests, tokens in and out, and cost where a price is known, per model
        (``--clear`` starts counting again)."""
        option = line.strip()
        if option not in ("", "--clear"):
            raise UsageError(f"%chat_usage takes --clear or nothing, got {option!r}")
        if option == "--clear":
            LEDGER.clear()
            print("usage totals cleared")
            return
        rich = getattr(self.shell, "kernel", None) is not None
        display(usage_bundle(LEDGER.totals(), rich=rich), raw=True)
