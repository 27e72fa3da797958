"""The catalogue: what can be bought and at what price in each currency."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, jsonify

from chatju.api import responses
from chatju.api.docs import documented
from chatju.settings import current_settings

bp = Blueprint("products", __name__)
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


@bp.get("/products")
@documented("The catalogue, prices in minor units per currency", {200: responses.Products}, tags=("products",))
def list_products() -> Response:
    return jsonify(products=[product.to_json() for product in catalogue().values()])
