"""What the session spent: requests, tokens and (where a price is known) cost, per model.

Every turn the engine settles is recorded here, once (:meth:`Ledger.record`), so cells and the
chat panel both count (a ``Chat`` called directly, outside the engine, does not). Prices come
from the maintained ``genai-prices`` package when it is installed (``pip install
lexilux-nb[prices]``; its price data ships inside the package, so no network):
looked up by the endpoint's URL, then by the model name alone. A local server (127.0.0.1,
localhost) is looked up by model name too, so one serving a model named like a hosted one shows
that one's price. Without the package, or for a model it does not know, the cost is None
("unknown"), never 0.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..client.models import Usage


@lru_cache(maxsize=1)
def _prices() -> Any:
    try:
        return importlib.import_module("genai_prices")
    except ImportError:
        return None


def price(model: str | None, usage: Usage, base_url: str | None = None) -> float | None:
    """The cost in US dollars of ``usage`` on ``model``, or None when no price is known."""
    module = _prices()
    if module is None or not model or not usage.reported:
        return None
    tokens = module.Usage(
        input_tokens=usage.input_tokens or 0, output_tokens=usage.output_tokens or 0
    )
    for url in ([base_url] if base_url else []) + [None]:
        try:
            found = module.calc_price(tokens, model_ref=model, provider_api_url=url)
        except (LookupError, ValueError):
            continue
        return float(found.total_price)
    return None


@dataclass
class ModelTotals:
    """One model's totals this session; ``cost`` None while no request had a known price."""

    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    unpriced: int = 0  # requests whose cost is unknown (so ``cost`` is a lower bound)


class Ledger:
    """Per-model totals, safe to record into from the panel's loop thread and a cell at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelTotals] = {}

    def record(self, model: str, usage: Usage, cost: float | None, requests: int = 1) -> None:
        with self._lock:
            totals = self._models.setdefault(model, ModelTotals(model))
            totals.requests += requests
            totals.input_tokens += usage.input_tokens or 0
            totals.output_tokens += usage.output_tokens or 0
            if cost is None:
                totals.unpriced += requests
            else:
                totals.cost = (totals.cost or 0.0) + cost

    def totals(self) -> list[ModelTotals]:
        """A snapshot, in the order models were first used."""
        with self._lock:
            return [ModelTotals(**vars(t)) for t in self._models.values()]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


LEDGER = Ledger()


def format_cost(cost: float) -> str:
    """``$0.0012``: four decimals below a dollar (``<$0.0001`` below that), cents above."""
    if cost == 0:
        return "$0"
    if cost < 0.0001:
        return "<$0.0001"
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"
