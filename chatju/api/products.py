"""The catalogue, as the storefront reads it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from chatju.api import responses
from chatju.api.docs import documented
from chatju.payments.catalogue import catalogue

bp = Blueprint("products", __name__)


@bp.get("/products")
@documented("The catalogue, prices in minor units per currency", {200: responses.Products}, tags=("products",))
def list_products() -> Response:
    return jsonify(products=[product.to_json() for product in catalogue().values()])
