"""Stripe's objects in memory: PaymentIntents, their Charges, Refunds and Disputes, with events.

One lock guards everything; events are queued while it is held, so they leave in the
order the changes happened (lock order: this lock, then the sender's); of the events of
one change, the intent's goes first (`payment_intent.succeeded`, then `charge.succeeded`).
Stripe promises no order at all; the reorder knob tests that. The sandbox's
endpoint is subscribed to the events the backend handles: payment_intent.succeeded,
.payment_failed, .canceled, .processing; charge.succeeded, .failed, .refunded,
.dispute.created; refund.created (not payment_intent.created nor charge.updated).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sandbox.stripe import cards, events
from sandbox.stripe.errors import StripeError, resource_missing, unexpected_state
from sandbox.stripe.events import AUTOMATIC, Origin
from sandbox.stripe.money import format_with_code
from sandbox.stripe.objects import (
    CANCELED,
    PROCESSING,
    REQUIRES_PAYMENT_METHOD,
    SUCCEEDED,
    Card,
    Charge,
    Dispute,
    Intent,
    Refund,
    new_id,
    now,
)
from sandbox.stripe.search import Predicate
from sandbox.webhooks import WebhookSender

CANCELABLE = "requires_payment_method, requires_capture, requires_confirmation, requires_action"


class StateError(Exception):
    """An action that does not apply to the intent as it stands (control API, hosted page)."""


class StripeStore:
    def __init__(self, webhooks: WebhookSender) -> None:
        self._lock = threading.Lock()
        self._intents: dict[str, Intent] = {}
        self._charges: dict[str, Charge] = {}
        self._refunds: dict[str, Refund] = {}
        self._disputes: dict[str, Dispute] = {}
        self._webhooks = webhooks

    # The API.

    def create_intent(self, intent: Intent) -> dict[str, Any]:
        with self._lock:
            self._intents[intent.id] = intent
            return intent.to_json()

    def get_intent(self, intent_id: str, expand: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._intent(intent_id).to_json(expand)

    def search(self, matches: Predicate, offset: int, limit: int, expand: bool) -> tuple[list[dict[str, Any]], bool]:
        """Matching intents, newest first: one page, and whether more follow."""
        with self._lock:
            found = [obj for obj in (i.to_json(expand) for i in reversed(self._intents.values())) if matches(obj)]
        return found[offset : offset + limit], len(found) > offset + limit

    def list_intents(self, created: Callable[[int], bool], expand: bool) -> list[dict[str, Any]]:
        """Intents whose creation time passes `created`, newest first (the newest made first among equals)."""
        with self._lock:
            newest = sorted(reversed(self._intents.values()), key=lambda i: i.created, reverse=True)
            return [intent.to_json(expand) for intent in newest if created(intent.created)]

    def cancel(self, intent_id: str, reason: str | None, origin: Origin, expand: bool) -> dict[str, Any]:
        with self._lock:
            intent = self._intent(intent_id)
            if intent.status != REQUIRES_PAYMENT_METHOD:
                allowed = f"Only a PaymentIntent with one of the following statuses may be canceled: {CANCELABLE}."
                raise self._unexpected(intent, "cancel", allowed)
            intent.status, intent.canceled_at, intent.cancellation_reason = CANCELED, now(), reason
            self._emit("payment_intent.canceled", intent.to_json(), origin, intent)
            return intent.to_json(expand)

    def refund(self, intent_id: str | None, charge_id: str | None, amount: int | None, reason: str | None,
               metadata: dict[str, str], origin: Origin) -> Refund:  # fmt: skip
        with self._lock:
            charge = self._refundable(intent_id, charge_id)
            remaining = charge.amount - charge.amount_refunded
            if remaining == 0:
                raise StripeError(400, f"Charge {charge.id} has already been refunded.", code="charge_already_refunded")
            if charge.disputed:
                message = f"Charge {charge.id} has been charged back; cannot issue a refund."
                raise StripeError(400, message, code="charge_disputed")
            if amount is not None and amount > remaining:
                message = (
                    f"Refund amount ({format_with_code(amount, charge.currency)}) is greater than unrefunded "
                    f"amount on charge ({format_with_code(remaining, charge.currency)})"
                )
                raise StripeError(400, message, code="amount_too_large", param="amount")
            amount = remaining if amount is None else amount
            refund = Refund(new_id("re_"), amount, charge.currency, charge.id, charge.intent_id, reason, metadata)
            charge.refunds.append(refund)
            self._refunds[refund.id] = refund
            intent = self._intents[charge.intent_id]
            self._emit("charge.refunded", charge.to_json(), origin, intent)
            self._emit("refund.created", refund.to_json(), origin, intent)
            return refund

    def refund_json(self, refund: Refund | str, expand: set[str]) -> dict[str, Any]:
        with self._lock:
            if isinstance(refund, str):
                found = self._refunds.get(refund)
                if found is None:
                    raise resource_missing("refund", refund, "refund")
                refund = found
            body = refund.to_json()
            if "charge" in expand:
                body["charge"] = self._charges[refund.charge].to_json()
            if "payment_intent" in expand:
                body["payment_intent"] = self._intents[refund.payment_intent].to_json()
            return body

    def list_refunds(self, intent_id: str | None, charge_id: str | None) -> list[dict[str, Any]]:
        """The refunds of an intent or a charge (or all), newest first."""
        with self._lock:
            if intent_id is not None and intent_id not in self._intents:
                raise resource_missing("payment_intent", intent_id, "payment_intent")
            if charge_id is not None and charge_id not in self._charges:
                raise resource_missing("charge", charge_id, "charge")
            return [
                refund.to_json()
                for refund in reversed(self._refunds.values())
                if intent_id in (None, refund.payment_intent) and charge_id in (None, refund.charge)
            ]

    def get_charge(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            charge = self._charges.get(charge_id)
            if charge is None:
                raise resource_missing("charge", charge_id, "charge")
            return charge.to_json()

    # The hosted page.

    def by_client_secret(self, client_secret: str) -> dict[str, Any]:
        with self._lock:
            return self._by_secret(client_secret).to_json()

    def pay(self, client_secret: str, number: str, base_url: str, origin: Origin) -> dict[str, Any]:
        """One payment attempt with a test card: the intent succeeds, or is declined and stays payable."""
        with self._lock:
            intent = self._by_secret(client_secret)
            if intent.status != REQUIRES_PAYMENT_METHOD:
                raise StateError(f"This PaymentIntent's status is {intent.status}: it cannot be paid.")
            decline = cards.decline_for(number)
            charge = self._attempt(intent, Card.from_number(number, cards.brand_of(number)), base_url, decline)
            if decline is None:
                self._succeed(intent, charge, origin)
            else:
                self._decline(intent, charge, decline, origin)
            return intent.to_json()

    # The control API.

    def process(self, intent_id: str) -> dict[str, Any]:
        """requires_payment_method → processing, as an asynchronous payment method would."""
        with self._lock:
            intent = self._intent(intent_id)
            if intent.status != REQUIRES_PAYMENT_METHOD:
                raise StateError(f"{intent_id} is {intent.status}, not requires_payment_method")
            intent.status, intent.last_payment_error = PROCESSING, None
            intent.payment_method = Card.from_number(cards.SUCCESS, "visa").id
            self._emit("payment_intent.processing", intent.to_json(), AUTOMATIC, intent)
            return intent.to_json()

    def succeed(self, intent_id: str, base_url: str) -> dict[str, Any]:
        """processing (or requires_payment_method) → succeeded, as if paid with 4242."""
        with self._lock:
            intent = self._intent(intent_id)
            if intent.status not in (PROCESSING, REQUIRES_PAYMENT_METHOD):
                raise StateError(f"{intent_id} is {intent.status}, not processing or requires_payment_method")
            card = Card.from_number(cards.SUCCESS, "visa")
            self._succeed(intent, self._attempt(intent, card, base_url, None), AUTOMATIC)
            return intent.to_json(expand_charge=True)

    def dispute(self, intent_id: str, reason: str) -> dict[str, Any]:
        with self._lock:
            intent = self._intent(intent_id)
            charge = intent.latest_charge
            if intent.status != SUCCEEDED or charge is None or not charge.succeeded:
                raise StateError(f"{intent_id} has no successful charge to dispute ({intent.status})")
            if charge.disputed:
                raise StateError(f"the charge of {intent_id} is already disputed")
            dispute = Dispute(new_id("dp_"), charge, reason)
            charge.disputed = True
            self._disputes[dispute.id] = dispute
            self._emit("charge.dispute.created", dispute.to_json(), AUTOMATIC, intent)
            return dispute.to_json()

    def send_event(self, intent_id: str, event_type: str, overrides: dict[str, Any]) -> str:
        """Send an event about the intent's current objects (fields optionally forged); state unchanged."""
        with self._lock:
            intent = self._intent(intent_id)
            data = {**self._event_object(intent, event_type), **overrides}
            return self._emit(event_type, data, AUTOMATIC, intent)

    def forget(self, intent_id: str) -> None:
        """Stripe loses the intent, its charges, refunds and disputes."""
        with self._lock:
            intent = self._intents.pop(intent_id, None)
            if intent is None:
                raise resource_missing("payment_intent", intent_id, "payment_intent")
            charges = {charge.id for charge in intent.charges}
            for table in (self._charges, self._refunds, self._disputes):
                for key in [k for k, v in table.items() if _belongs(v, intent_id, charges)]:
                    del table[key]

    def backdate(self, intent_id: str, seconds: int) -> dict[str, Any]:
        """The intent, its charges and refunds were made `seconds` earlier."""
        with self._lock:
            intent = self._intent(intent_id)
            intent.created -= seconds
            for charge in intent.charges:
                charge.created -= seconds
                for refund in charge.refunds:
                    refund.created -= seconds
            return intent.to_json(expand_charge=True)

    def intents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [intent.to_json(expand_charge=True) for intent in self._intents.values()]

    def reset(self) -> None:
        with self._lock:
            for table in (self._intents, self._charges, self._refunds, self._disputes):
                table.clear()

    def close(self) -> None:
        """Nothing runs in the background but the webhook sender."""

    # Transitions (the lock is held).

    def _attempt(self, intent: Intent, card: Card, base_url: str, decline: cards.Decline | None) -> Charge:
        charge_id = new_id("ch_")
        charge = Charge(
            charge_id, intent.id, intent.amount, intent.currency, card, intent.description, dict(intent.metadata),
            intent.receipt_email, f"{base_url}/stripe/receipt/{charge_id}", decline,
        )  # fmt: skip
        intent.charges.append(charge)
        self._charges[charge.id] = charge
        return charge

    def _succeed(self, intent: Intent, charge: Charge, origin: Origin) -> None:
        intent.status, intent.last_payment_error, intent.payment_method = SUCCEEDED, None, charge.card.id
        self._emit("payment_intent.succeeded", intent.to_json(), origin, intent)
        self._emit("charge.succeeded", charge.to_json(), origin, intent)

    def _decline(self, intent: Intent, charge: Charge, decline: cards.Decline, origin: Origin) -> None:
        intent.status, intent.payment_method = REQUIRES_PAYMENT_METHOD, None
        intent.last_payment_error = {
            "charge": charge.id, "code": "card_declined", "decline_code": decline.decline_code,
            "doc_url": "https://stripe.com/docs/error-codes/card-declined", "message": decline.message,
            "payment_method": charge.card.payment_method(), "type": "card_error",
        }  # fmt: skip
        self._emit("payment_intent.payment_failed", intent.to_json(), origin, intent)
        self._emit("charge.failed", charge.to_json(), origin, intent)

    def _emit(self, event_type: str, data: dict[str, Any], origin: Origin, intent: Intent) -> str:
        body = events.event(event_type, data, origin)
        self._webhooks.emit(event_type, intent.order_id, body, body["id"])
        return body["id"]

    # Lookups (the lock is held).

    def _intent(self, intent_id: str) -> Intent:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise resource_missing("payment_intent", intent_id, "intent")
        return intent

    def _by_secret(self, client_secret: str) -> Intent:
        intent = self._intents.get(client_secret.partition("_secret_")[0])
        if intent is None or intent.client_secret != client_secret:
            raise resource_missing("payment_intent", client_secret.partition("_secret_")[0], "client_secret")
        return intent

    def _refundable(self, intent_id: str | None, charge_id: str | None) -> Charge:
        if charge_id is not None:
            charge = self._charges.get(charge_id)
            if charge is None:
                raise resource_missing("charge", charge_id, "charge")
            if intent_id is not None and charge.intent_id != intent_id:
                message = f"Charge {charge_id} does not belong to PaymentIntent {intent_id}."
                raise StripeError(400, message, param="charge")
            if not charge.succeeded:
                raise StripeError(400, f"Charge {charge_id} was not successful and cannot be refunded.", param="charge")
            return charge
        intent = self._intents.get(intent_id or "")
        if intent is None:
            raise resource_missing("payment_intent", intent_id or "", "payment_intent")
        charge = intent.latest_charge
        if intent.status != SUCCEEDED or charge is None:
            message = f"This PaymentIntent ({intent.id}) does not have a successful charge to refund."
            raise StripeError(400, message, param="payment_intent")
        return charge

    def _unexpected(self, intent: Intent, action: str, allowed: str) -> StripeError:
        error = unexpected_state(
            f"You cannot {action} this PaymentIntent because it has a status of {intent.status}. {allowed}"
        )
        error.extra["payment_intent"] = intent.to_json()
        return error

    def _event_object(self, intent: Intent, event_type: str) -> dict[str, Any]:
        charge = intent.latest_charge
        if event_type in events.PAYMENT_INTENT_EVENTS:
            return intent.to_json()
        if event_type in events.CHARGE_EVENTS and charge is not None:
            return charge.to_json()
        refunds = [r for c in intent.charges for r in c.refunds]
        if event_type in events.REFUND_EVENTS and refunds:
            return refunds[-1].to_json()
        disputes = [d for d in self._disputes.values() if d.charge.intent_id == intent.id]
        if event_type in events.DISPUTE_EVENTS and disputes:
            return disputes[-1].to_json()
        raise StateError(f"{intent.id} has no object for a {event_type} event")


def _belongs(item: Charge | Refund | Dispute, intent_id: str, charges: set[str]) -> bool:
    if isinstance(item, Charge):
        return item.id in charges
    if isinstance(item, Refund):
        return item.payment_intent == intent_id
    return item.charge.id in charges
