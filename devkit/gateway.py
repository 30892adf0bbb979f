"""The simulated card processor of development and tests: it behaves like a
processor in test mode (``billing.gateway.PaymentGateway``) and takes no money.
``OPUS_PAYMENT_GATEWAY=simulated`` (the development default) chooses it;
production refuses it.

Its test cards (the same numbers Stripe documents):

================  ===========  =============================================
number            brand        behaviour
================  ===========  =============================================
4242424242424242  visa         succeeds
4000056655665556  visa         succeeds (debit)
5555555555554444  mastercard   succeeds
2223003122003222  mastercard   succeeds
378282246310005   amex         succeeds (4-digit security code)
6011111111111117  discover     succeeds
4000000000000002  visa         declined when saved: ``card_declined``
4000000000000069  visa         declined when saved: ``expired_card``
4000000000000127  visa         declined when saved: ``incorrect_cvc``
4000000000009995  visa         saved; every charge declined: ``insufficient_funds``
4000000000000341  visa         saved; every charge declined: ``card_declined``
================  ===========  =============================================

A processor checks the security code and the card's validity when the card is
saved (Stripe verifies a card on a SetupIntent), so those declines happen at
setup; insufficient funds can only show when money is asked for. Any other
number that passes the Luhn check is refused as a live card in a test
environment, as Stripe's test mode does. A number that fails the Luhn check is
``incorrect_number``; an expiry in the past is ``invalid_expiry``.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from billing.gateway import (
    CardDeclined,
    CardDetails,
    CardError,
    CardSetup,
    ChargeResult,
    GatewayError,
    RefundResult,
    SavedCard,
)
from devkit.models import SimulatedGatewayCard, SimulatedGatewayCharge, SimulatedGatewayRefund
from devkit.routers import GATEWAY_DB
from opus.lib.money import round_money
from opus.lib.parsing import ascii_digits

SUCCEEDS = "succeed"
TEST_CARDS: dict[str, tuple[str, str]] = {
    "4242424242424242": ("visa", SUCCEEDS),
    "4000056655665556": ("visa", SUCCEEDS),
    "5555555555554444": ("mastercard", SUCCEEDS),
    "2223003122003222": ("mastercard", SUCCEEDS),
    "378282246310005": ("amex", SUCCEEDS),
    "6011111111111117": ("discover", SUCCEEDS),
    "4000000000000002": ("visa", "setup:card_declined"),
    "4000000000000069": ("visa", "setup:expired_card"),
    "4000000000000127": ("visa", "setup:incorrect_cvc"),
    "4000000000009995": ("visa", "charge:insufficient_funds"),
    "4000000000000341": ("visa", "charge:card_declined"),
}
DECLINE_MESSAGES = {
    "card_declined": "The card was declined by the bank. Try another card.",
    "expired_card": "The card has expired. Try another card.",
    "incorrect_cvc": "The security code is not right. Check it and try again.",
    "insufficient_funds": "The card was declined: insufficient funds.",
    "live_card_in_test_mode": ("This card was declined: only test cards work in this environment."),
}


def luhn_valid(number: str) -> bool:
    if not ascii_digits(number) or not 12 <= len(number) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2] or 0) <= 55 or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


class SimulatedGateway:
    """Behaves like a processor in test mode, with its vault and ledger in its
    own tables (SimulatedGatewayCard, SimulatedGatewayCharge), written through a
    connection of their own in autocommit (devkit/routers.py): as at a real
    processor, a charge stays made whatever the caller's transaction does next."""

    name = "simulated"
    collects_card_in_page = True

    def create_setup(self, *, reference: str, payer=None) -> CardSetup:
        return CardSetup(id=f"seti_sim_{secrets.token_hex(12)}")

    @sensitive_variables("card", "number")
    def confirm_setup(
        self, *, setup: CardSetup, card: CardDetails | None = None, confirmation: str = ""
    ) -> SavedCard:
        if card is None:
            raise CardError("Enter the card's details.", code="missing_card", field="number")
        number = "".join(card.number.split())
        if not luhn_valid(number):
            raise CardError(
                "This card number is not valid. Check it and try again.",
                code="incorrect_number",
                field="number",
            )
        today = timezone.localdate()
        if not 1 <= card.exp_month <= 12 or (card.exp_year, card.exp_month) < (
            today.year,
            today.month,
        ):
            raise CardError(
                "The expiry date is in the past. Check it and try again.",
                code="invalid_expiry",
                field="exp_month",
            )
        if card.exp_year > today.year + 20:
            raise CardError(
                "The expiry year is too far ahead. Check it and try again.",
                code="invalid_expiry",
                field="exp_year",
            )
        brand, behaviour = TEST_CARDS.get(
            number, (card_brand(number), "setup:live_card_in_test_mode")
        )
        cvc_length = 4 if brand == "amex" else 3
        if not (ascii_digits(card.cvc) and len(card.cvc) == cvc_length):
            raise CardError(
                f"The security code of this card has {cvc_length} digits.",
                code="invalid_cvc",
                field="cvc",
            )
        if behaviour.startswith("setup:"):
            code = behaviour.removeprefix("setup:")
            raise CardDeclined(
                DECLINE_MESSAGES[code],
                code=code,
                field="cvc" if code == "incorrect_cvc" else "number",
            )
        token = f"sim_tok_{secrets.token_hex(16)}"
        SimulatedGatewayCard.objects.create(
            token=token,
            brand=brand,
            last4=number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            behaviour=behaviour,
        )
        return SavedCard(
            gateway=self.name,
            token=token,
            brand=brand,
            last4=number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    def charge(
        self,
        *,
        token: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        description: str = "",
    ) -> ChargeResult:
        """Charge once per idempotency key: a retry returns the first result. A
        retry with the same key but another card or amount is refused, as Stripe
        refuses a reused key with different parameters."""
        if not idempotency_key:
            raise GatewayError("an idempotency key is required")
        amount = round_money(amount, currency)
        if amount <= 0:
            raise GatewayError("a charge is more than zero")
        existing = SimulatedGatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            card = SimulatedGatewayCard.objects.filter(token=token).first()
            if card is None:
                code = "card_declined"
                succeeded = False
            else:
                today = timezone.localdate()
                behaviour = card.behaviour
                if (card.exp_year, card.exp_month) < (today.year, today.month):
                    behaviour = "charge:expired_card"
                succeeded = behaviour == SUCCEEDS
                code = "" if succeeded else behaviour.removeprefix("charge:")
            try:
                with transaction.atomic(using=GATEWAY_DB):
                    existing = SimulatedGatewayCharge.objects.create(
                        idempotency_key=idempotency_key,
                        charge_id=f"ch_sim_{secrets.token_hex(12)}",
                        token=token,
                        amount=amount,
                        currency=currency,
                        succeeded=succeeded,
                        decline_code=code,
                    )
            except IntegrityError:  # a concurrent retry with the same key won the race
                existing = SimulatedGatewayCharge.objects.get(idempotency_key=idempotency_key)
        if existing.token != token or existing.amount != amount or existing.currency != currency:
            raise GatewayError("idempotency key reused with different parameters")
        return _result(existing)

    def retrieve_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        existing = SimulatedGatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        return _result(existing) if existing is not None else None

    def refund(
        self, *, charge_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        """Refund once per idempotency key: a retry returns the first result. A
        refund of an unknown or failed charge, in another currency, or of more than
        the charge less what was refunded of it, is refused (a result, as Stripe's
        refusal is an answer, not an outage)."""
        if not idempotency_key:
            raise GatewayError("an idempotency key is required")
        amount = round_money(amount, currency)
        if amount <= 0:
            raise GatewayError("a refund is more than zero")
        existing = SimulatedGatewayRefund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            charge = SimulatedGatewayCharge.objects.filter(
                charge_id=charge_id, succeeded=True
            ).first()
            message = ""
            if charge is None or charge.currency != currency:
                message = "No such charge to refund."
            else:
                refunded = sum(
                    SimulatedGatewayRefund.objects.filter(
                        charge_id=charge_id, succeeded=True
                    ).values_list("amount", flat=True),
                    Decimal(0),
                )
                if amount > charge.amount - refunded:
                    message = "The refund is more than what is left of the charge."
            try:
                with transaction.atomic(using=GATEWAY_DB):
                    existing = SimulatedGatewayRefund.objects.create(
                        idempotency_key=idempotency_key,
                        refund_id=f"re_sim_{secrets.token_hex(12)}",
                        charge_id=charge_id,
                        amount=amount,
                        currency=currency,
                        succeeded=not message,
                        message=message,
                    )
            except IntegrityError:  # a concurrent retry with the same key won the race
                existing = SimulatedGatewayRefund.objects.get(idempotency_key=idempotency_key)
        if (
            existing.charge_id != charge_id
            or existing.amount != amount
            or existing.currency != currency
        ):
            raise GatewayError("idempotency key reused with different parameters")
        return _refund_result(existing)

    def retrieve_refund(self, *, idempotency_key: str) -> RefundResult | None:
        existing = SimulatedGatewayRefund.objects.filter(idempotency_key=idempotency_key).first()
        return _refund_result(existing) if existing is not None else None


def _refund_result(refund) -> RefundResult:
    return RefundResult(
        succeeded=refund.succeeded,
        refund_id=refund.refund_id,
        amount=refund.amount,
        currency=refund.currency,
        message=refund.message,
    )


def _result(charge) -> ChargeResult:
    return ChargeResult(
        succeeded=charge.succeeded,
        charge_id=charge.charge_id,
        amount=charge.amount,
        currency=charge.currency,
        decline_code=charge.decline_code,
        message=DECLINE_MESSAGES.get(charge.decline_code, "") if charge.decline_code else "",
    )
