"""What a call costs: list prices per model, a per-alias override, and the spend so far.

No endpoint reports money, so the price of a token comes from a table: OpenAI's list
prices (USD per million tokens, standard tier, December 2026) for the models people
evaluate and fine-tune, with fine-tuned models at their own, higher inference price. A
model that is not in the table has an unknown cost (shown as such, never as $0), unless
the alias sets ``price = {input = ..., output = ...}`` or the config's ``prices`` table
names it. Local models (``provider: local`` and ``recorded``) cost nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deltajudge.settings import ModelConfig, Settings


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float

    def of(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


FREE = Price(0.0, 0.0)

#: What a Batch API call costs, as a share of the list price (OpenAI and Azure: half).
BATCH_PRICE_FACTOR = 0.5

#: Base model family -> (inference price, fine-tuned model's inference price).
LIST_PRICES: dict[str, tuple[Price, Price | None]] = {
    "gpt-4.1": (Price(2.00, 8.00), Price(3.00, 12.00)),
    "gpt-4.1-mini": (Price(0.40, 1.60), Price(0.80, 3.20)),
    "gpt-4.1-nano": (Price(0.10, 0.40), Price(0.20, 0.80)),
    "gpt-4o": (Price(2.50, 10.00), Price(3.75, 15.00)),
    "gpt-4o-mini": (Price(0.15, 0.60), Price(0.30, 1.20)),
    "gpt-5": (Price(1.25, 10.00), None),
    "gpt-5-mini": (Price(0.25, 2.00), None),
    "gpt-5-nano": (Price(0.05, 0.40), None),
    "o3": (Price(2.00, 8.00), None),
    "o3-mini": (Price(1.10, 4.40), None),  # the judge of many OpenAI Evals graders
    "o4-mini": (Price(1.10, 4.40), Price(4.00, 16.00)),
}

#: ``gpt-4.1-mini-2025-04-14`` -> ``gpt-4.1-mini``: a dated snapshot costs what its family does.
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def price_for(config: ModelConfig, settings: Settings) -> Price | None:
    """The alias's price per million tokens, or None when nobody knows it."""
    if config.price is not None:
        return Price(config.price.input, config.price.output)
    if config.provider in ("local", "recorded"):
        return FREE
    own = settings.prices.get(config.model)
    if own is not None:
        return Price(own.input, own.output)
    return _list_price(config.model)


def _list_price(model: str) -> Price | None:
    fine_tuned = model.startswith("ft:")
    if fine_tuned:  # ft:gpt-4.1-mini-2025-04-14:org:suffix:id
        model = model.split(":")[1]
    prices = LIST_PRICES.get(_SNAPSHOT.sub("", model))
    if prices is None:
        return None
    return prices[1] if fine_tuned else prices[0]
