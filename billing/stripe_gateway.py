"""Stripe as the card processor (``OPUS_PAYMENT_GATEWAY=stripe``), through the
official ``stripe`` library.

- A card is saved by a SetupIntent (usage off_session) for the payer's Stripe
  customer (created when first needed, its id kept in :class:`StripeCustomer`);
  Stripe.js confirms it in the page, so the card number never reaches Opus, and
  ``confirm_setup`` retrieves the SetupIntent server-side and reads the card's
  brand, last four and expiry from its PaymentMethod. The token kept is the
  PaymentMethod's id.
- A charge is an off-session PaymentIntent, confirmed at once, with the
  attempt's idempotency key as Stripe's Idempotency-Key and in its metadata
  (``opus_key``), so ``retrieve_charge`` finds it again without charging.
- A decline is a result; a network failure or a 5xx is a :class:`GatewayError`
  (the attempt stays pending, retried with the same key or reconciled).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.csp import CSP

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
from billing.models import PaymentAttempt, PaymentMethod, StripeCustomer
from opus.lib.money import round_money

logger = logging.getLogger(__name__)

# Currencies Stripe counts in whole units (no minor unit).
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                "VND", "VUV", "XAF", "XOF", "XPF"}  # fmt: skip
METADATA_KEY = "opus_key"
AUTH_REQUIRED = "authentication_required"
# How far back the reconciliation looks for a PaymentIntent of a pending attempt.
LOOKBACK = timedelta(days=2)


def minor_units(amount: Decimal, currency: str) -> int:
    amount = round_money(amount, currency)
    if currency.upper() in ZERO_DECIMAL:
        return int(amount)
    return int((amount * 100).to_integral_value())


def from_minor(units: int, currency: str) -> Decimal:
    if currency.upper() in ZERO_DECIMAL:
        return Decimal(units)
    return (Decimal(units) / 100).quantize(Decimal("0.01"))


def client() -> stripe.StripeClient:
    key = settings.STRIPE_SECRET_KEY
    if not key:
        raise ImproperlyConfigured("OPUS_PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY.")
    options: dict = {"max_network_retries": 2}
    if settings.STRIPE_API_BASE:
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(key, **options)


def _metadata(obj) -> dict:
    data = getattr(obj, "metadata", None)
    if data is None:
        return {}
    return data.to_dict() if hasattr(data, "to_dict") else dict(data)


class StripeGateway:
    name = "stripe"
    collects_card_in_page = False

    def __init__(self) -> None:
        self.stripe = client()

    # --- customers ----------------------------------------------------------------

    def customer_for(self, payer) -> str:
        """The payer's Stripe customer, created at Stripe and recorded the first
        time it is needed. Two concurrent first uses may create two customers at
        Stripe; one is recorded and the other is left unused (harmless)."""
        known = StripeCustomer.objects.filter(client_id=payer.pk).first()
        if known is not None:
            return known.customer_id
        try:
            created = self.stripe.v1.customers.create(
                params={"metadata": {"opus_client": str(payer.pk)}},
                options={"idempotency_key": f"opus-customer-{payer.pk}"},
            )
        except stripe.StripeError as error:
            raise GatewayError(f"customer not created: {error}") from error
        try:
            with transaction.atomic():
                StripeCustomer.objects.create(client_id=payer.pk, customer_id=created.id)
        except IntegrityError:
            return StripeCustomer.objects.get(client_id=payer.pk).customer_id
        return created.id

    # --- saving a card ------------------------------------------------------------

    def create_setup(self, *, reference: str, payer=None) -> CardSetup:
        params: Any = {"usage": "off_session", "metadata": {"opus_reference": reference}}
        if payer is not None:
            params["customer"] = self.customer_for(payer)
        try:
            intent = self.stripe.v1.setup_intents.create(params=params)
        except stripe.StripeError as error:
            raise GatewayError(f"setup not created: {error}") from error
        return CardSetup(id=intent.id, client_secret=intent.client_secret or "")

    def retrieve_setup(self, *, setup_id: str) -> CardSetup | None:
        """The setup again, or None when it can no longer take a card (canceled)."""
        try:
            intent = self.stripe.v1.setup_intents.retrieve(setup_id)
        except stripe.StripeError as error:
            raise GatewayError(f"setup not found: {error}") from error
        if intent.status == "canceled":
            return None
        return CardSetup(id=intent.id, client_secret=intent.client_secret or "")

    def confirm_setup(
        self, *, setup: CardSetup, card: CardDetails | None = None, confirmation: str = ""
    ) -> SavedCard:
        """``confirmation`` is the SetupIntent id Stripe.js confirmed in the page;
        it must be the setup this page started (another one is refused)."""
        if card is not None:
            raise CardError(
                "Card numbers are not accepted here: use the card form.", code="card_in_request"
            )
        if not confirmation or confirmation != setup.id:
            raise CardError("The card was not confirmed. Enter it again.", code="setup_mismatch")
        try:
            intent = self.stripe.v1.setup_intents.retrieve(setup.id)
        except stripe.StripeError as error:
            raise GatewayError(f"setup not found: {error}") from error
        if intent.status != "succeeded" or not intent.payment_method:
            message = "The card was not saved. Check it and try again."
            setup_error = getattr(intent, "last_setup_error", None)
            if setup_error and getattr(setup_error, "message", None):
                message = f"{setup_error.message} Try again or use another card."
            raise CardDeclined(message, code=f"setup_{intent.status}")
        method_id = intent.payment_method
        if not isinstance(method_id, str):
            method_id = method_id.id
        return self.saved_card(method_id)

    def saved_card(self, method_id: str) -> SavedCard:
        try:
            method = self.stripe.v1.payment_methods.retrieve(method_id)
        except stripe.StripeError as error:
            raise GatewayError(f"payment method not found: {error}") from error
        card = method.card
        if card is None:
            raise CardError("Only cards are accepted.", code="not_a_card")
        return SavedCard(
            gateway=self.name,
            token=method.id,
            brand=card.brand or "card",
            last4=card.last4,
            exp_month=int(card.exp_month),
            exp_year=int(card.exp_year),
        )

    # --- charging -----------------------------------------------------------------

    def _customer_of_token(self, token: str) -> str | None:
        return (
            StripeCustomer.objects.filter(client__payment_methods__token=token)
            .values_list("customer_id", flat=True)
            .first()
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
        if not idempotency_key:
            raise GatewayError("an idempotency key is required")
        params: Any = {
            "amount": minor_units(amount, currency),
            "currency": currency.lower(),
            "payment_method": token,
            "confirm": True,
            "off_session": True,
            "metadata": {METADATA_KEY: idempotency_key, "description": description[:400]},
        }
        customer = self._customer_of_token(token)
        if customer:
            params["customer"] = customer
        try:
            intent = self.stripe.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.CardError as error:
            return self._declined(error, amount=amount, currency=currency)
        except stripe.IdempotencyError as error:
            raise GatewayError(f"idempotency key reused: {error}") from error
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise GatewayError(f"Stripe not reached: {error}") from error
        except stripe.StripeError as error:
            if (error.http_status or 500) >= 500:
                raise GatewayError(f"Stripe failed: {error}") from error
            raise GatewayError(f"Stripe refused the request: {error}") from error
        return intent_result(intent)

    def _declined(self, error: stripe.CardError, *, amount, currency) -> ChargeResult:
        json_body: Any = error.json_body or {}
        body: dict = json_body.get("error") or {}
        intent = body.get("payment_intent") or {}
        # Off-session, Stripe answers a card that needs 3-D Secure with an error
        # (authentication_required); the payer confirms it on-session in a page.
        if intent.get("status") == "requires_action" or body.get("code") == AUTH_REQUIRED:
            return ChargeResult(
                succeeded=False,
                charge_id=intent.get("id", ""),
                amount=amount,
                currency=currency,
                decline_code="authentication_required",
                message="The bank asks the payer to confirm this payment.",
                requires_action=True,
                client_secret=intent.get("client_secret", ""),
            )
        return ChargeResult(
            succeeded=False,
            charge_id=body.get("charge") or intent.get("id", ""),
            amount=amount,
            currency=currency,
            decline_code=body.get("decline_code") or body.get("code") or "card_declined",
            message=body.get("message") or error.user_message or "",
        )

    def retrieve_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        intent = self.find_intent(idempotency_key=idempotency_key)
        return intent_result(intent) if intent is not None else None

    def find_intent(self, *, idempotency_key: str):
        """The PaymentIntent created with this key, found by its metadata among
        recent PaymentIntents (of the attempt's customer when known), or None."""
        attempt = (
            PaymentAttempt.objects.filter(idempotency_key=idempotency_key)
            .select_related("payment_method")
            .first()
        )
        params: Any = {"limit": 100}
        since = (attempt.created_at if attempt else timezone.now()) - LOOKBACK
        try:
            page = self.stripe.v1.payment_intents.list(params=params)
            for intent in page.auto_paging_iter():
                if _metadata(intent).get(METADATA_KEY) == idempotency_key:
                    return intent
                if intent.created and intent.created < since.timestamp():
                    break
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe not reached: {error}") from error
        return None

    def retrieve_intent(self, intent_id: str):
        try:
            return self.stripe.v1.payment_intents.retrieve(intent_id)
        except stripe.StripeError as error:
            raise GatewayError(f"payment intent not found: {error}") from error

    # --- refunds ------------------------------------------------------------------

    def refund(
        self, *, charge_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        params: Any = {
            "amount": minor_units(amount, currency),
            "metadata": {METADATA_KEY: idempotency_key},
        }
        if charge_id.startswith("pi_"):
            params["payment_intent"] = charge_id
        else:
            params["charge"] = charge_id
        try:
            refund = self.stripe.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as error:
            return RefundResult(
                succeeded=False,
                refund_id="",
                amount=amount,
                currency=currency,
                message=error.user_message or str(error),
            )
        except stripe.StripeError as error:
            raise GatewayError(f"refund not sent: {error}") from error
        return refund_result(refund)

    def retrieve_refund(self, *, idempotency_key: str) -> RefundResult | None:
        try:
            page = self.stripe.v1.refunds.list(params={"limit": 100})
            for refund in page.auto_paging_iter():
                if _metadata(refund).get(METADATA_KEY) == idempotency_key:
                    return refund_result(refund)
        except stripe.StripeError as error:
            raise GatewayError(f"Stripe not reached: {error}") from error
        return None


def intent_result(intent) -> ChargeResult:
    """What a PaymentIntent means for Opus's attempt."""
    currency = (intent.currency or "").upper()
    amount = from_minor(intent.amount, currency)
    status = intent.status
    charge_id = intent.latest_charge if isinstance(intent.latest_charge, str) else ""
    if not charge_id and intent.latest_charge is not None:
        charge_id = intent.latest_charge.id
    if status == "succeeded":
        return ChargeResult(
            succeeded=True, charge_id=charge_id or intent.id, amount=amount, currency=currency
        )
    error = getattr(intent, "last_payment_error", None)
    code = (getattr(error, "decline_code", None) or getattr(error, "code", None)) if error else None
    if status == "requires_action" or (
        status == "requires_payment_method" and code == AUTH_REQUIRED
    ):
        return ChargeResult(
            succeeded=False,
            charge_id=intent.id,
            amount=amount,
            currency=currency,
            decline_code="authentication_required",
            message="The bank asks the payer to confirm this payment.",
            requires_action=True,
            client_secret=intent.client_secret or "",
        )
    message = getattr(error, "message", None) if error else None
    return ChargeResult(
        succeeded=False,
        charge_id=charge_id or intent.id,
        amount=amount,
        currency=currency,
        decline_code=code or (status if status == "canceled" else "card_declined"),
        message=message or "",
    )


def refund_result(refund) -> RefundResult:
    currency = (refund.currency or "").upper()
    return RefundResult(
        succeeded=refund.status in ("succeeded", "pending"),
        refund_id=refund.id,
        amount=from_minor(refund.amount, currency),
        currency=currency,
        message=getattr(refund, "failure_reason", None) or "",
    )


def usable_method(token: str) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(token=token).first()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def page_csp() -> dict:
    """The site's Content-Security-Policy opened for Stripe.js on the pages that
    mount it (the card link, the payment confirmation): its script, its frames
    and its API, nothing more; nonces kept. With localstripe (the offline tests)
    the stand-in's own address instead of Stripe's."""
    configured: dict[str, Any] = settings.SECURE_CSP
    policy: dict[str, list] = {name: list(values) for name, values in configured.items()}
    js = _origin(settings.STRIPE_JS_URL) or "https://js.stripe.com"
    api = _origin(settings.STRIPE_API_BASE) or "https://api.stripe.com"
    scripts = [js] if js != "https://js.stripe.com" else [js, "https://*.js.stripe.com"]
    frames = [*scripts, "https://hooks.stripe.com"] if js == "https://js.stripe.com" else [js]
    policy["script-src"] = [*policy.get("script-src", []), *scripts]
    policy["frame-src"] = frames
    policy["connect-src"] = [*policy.get("connect-src", [CSP.SELF]), api]
    return policy
