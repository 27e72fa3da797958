"""The catalogue: what can be bought and at what price in each currency."""

from __future__ import annotations

from dataclasses import dataclass

from chatju.settings import current_settings

PREMIUM_READING = "premium_reading"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    prices: dict[str, int]  # minor units per ISO 4217 currency

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "prices": dict(self.prices)}


def catalogue() -> dict[str, Product]:
    prices = current_settings().product_prices
    return {PREMIUM_READING: Product(PREMIUM_READING, "Premium saju reading (사주 프리미엄 풀이)", prices)}


def find_product(product_id: str) -> Product | None:
    return catalogue().get(product_id)
