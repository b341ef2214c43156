"""Domain layer: the model price table (USD per 1k tokens) used to infer cost when only tokens are reported."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Price:
    provider: str
    input_per_1k: float
    output_per_1k: float
    cache_read_per_1k: float


DEFAULT_PRICES: dict[str, Price] = {
    "claude-sonnet-4-5": Price("anthropic", 0.003, 0.015, 0.0003),
    "claude-haiku-4-5": Price("anthropic", 0.001, 0.005, 0.0001),
    "claude-opus-4-1": Price("anthropic", 0.015, 0.075, 0.0015),
    "gpt-4.1": Price("openai", 0.002, 0.008, 0.0005),
    "gpt-4.1-mini": Price("openai", 0.0004, 0.0016, 0.0001),
    "gemini-2.5-pro": Price("google", 0.00125, 0.01, 0.00031),
    "gemini-2.5-flash": Price("google", 0.0003, 0.0025, 0.000075),
}


def cost_of(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    prices: dict[str, Price] = DEFAULT_PRICES,
) -> float:
    price = prices.get(model)
    if price is None:
        return 0.0
    return (
        input_tokens * price.input_per_1k
        + output_tokens * price.output_per_1k
        + cache_read_tokens * price.cache_read_per_1k
    ) / 1000.0


class PriceFileError(ValueError):
    """The price file cannot be used; the message names the file and the entry."""


def load_prices(path: str | Path) -> dict[str, Price]:
    """The default table updated from a JSON file of {"model": {"provider", "input_per_1k", "output_per_1k",
    "cache_read_per_1k"}} (USD per 1,000 tokens); a model given there replaces its default."""
    file = Path(path)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceFileError(f"cannot read price file {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise PriceFileError(f"price file {file} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PriceFileError(f"price file {file} must hold a JSON object of model -> prices")
    prices = dict(DEFAULT_PRICES)
    for model, entry in raw.items():
        try:
            numbers = [float(entry[k]) for k in ("input_per_1k", "output_per_1k")]
            cache = float(entry.get("cache_read_per_1k", 0.0))
            provider = str(entry.get("provider", ""))
        except (TypeError, KeyError, ValueError):
            raise PriceFileError(
                f"price file {file}: {model!r} needs numbers input_per_1k and output_per_1k"
            ) from None
        if min(*numbers, cache) < 0:
            raise PriceFileError(f"price file {file}: {model!r} has a negative price")
        prices[str(model)] = Price(provider, numbers[0], numbers[1], cache)
    return prices
