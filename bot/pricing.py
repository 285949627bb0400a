"""What model calls cost, from a price table (``prices.yaml``, or ``PRICES_FILE``).  Pure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PER_MILLION = 1_000_000


class PricesError(Exception):
    """The price table is wrong; the message is one line naming the file."""


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)  # None: cached input costs as much as input
    output: float = Field(ge=0)


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Price]

    def price_of(self, model: str) -> Price | None:
        """The model's price: its exact name, else the longest listed name it starts with."""
        name = model.rsplit("/", 1)[-1].lower()
        if name in self.prices:
            return self.prices[name]
        prefixes = [listed for listed in self.prices if name.startswith(listed + "-")]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, *, input_tokens: int, cached_tokens: int = 0, output_tokens: int = 0) -> float | None:
        """USD for one call (``input_tokens`` includes the cached ones, as the API reports them); None: unpriced."""
        price = self.price_of(model)
        if price is None:
            return None
        cached = min(cached_tokens, input_tokens)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        return ((input_tokens - cached) * price.input + cached * cached_rate + output_tokens * price.output) / PER_MILLION


def load_prices(path: Path) -> PriceTable:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PricesError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError:
        raise PricesError(f"{path}: not valid YAML") from None
    if not isinstance(raw, dict):
        raise PricesError(f"{path}: expected model names mapped to {{input, cached_input, output}}")
    prices: dict[str, Price] = {}
    for model, entry in raw.items():
        try:
            prices[str(model).lower()] = Price.model_validate(entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(map(str, error["loc"]))
            raise PricesError(f"{path}: {model}{'.' + field if field else ''}: {error['msg']}") from None
    return PriceTable(prices)
