"""The payment-gateway interface, and the choice of processor.

Opus keeps only what a processor hands back: a token, the brand, the last four
digits and the expiry. A card number or a security code exists only in the
request that carries it to ``confirm_setup`` (a :class:`CardDetails`, whose
repr hides both) and never reaches a log, the database or an error page.

Callers use four calls, whatever the processor:

``create_setup(*, reference)``
    Start saving a card for someone (Stripe: a SetupIntent; its ``client_secret``
    goes to Stripe.js in the page, and the card form is Stripe's own fields).
``confirm_setup(*, setup, card=None, confirmation="")``
    Finish it and return a :class:`SavedCard`. The simulated gateway receives the
    card itself (``card``); Stripe would receive the confirmed SetupIntent id
    from the browser (``confirmation``), retrieve it server-side and read the
    PaymentMethod's id, brand, last4 and expiry: the card never touches Opus.
``charge(*, token, amount, currency, idempotency_key, description="")``
    Charge a saved card off-session (Stripe: a PaymentIntent with ``confirm=True,
    off_session=True``, the amount in minor units, and ``idempotency_key`` passed
    through as Stripe's Idempotency-Key header). Returns a :class:`ChargeResult`;
    a decline is a result, not an exception, so that it can be recorded. Never
    called with a database transaction open: see ``billing.services.charge_card``.
``retrieve_charge(*, idempotency_key)``
    What became of a charge sent with this key, without charging: the first
    result, or None when the processor never received it (Stripe: the
    PaymentIntent found by the attempt's id in its metadata). The reconciliation
    asks this of attempts left pending.

``refund(*, charge_id, amount, currency, idempotency_key)``
    Give back part or all of a charge (Stripe: a Refund of the PaymentIntent, the
    key as its Idempotency-Key). Returns a :class:`RefundResult`; a refusal is a
    result (``succeeded=False`` with a message), not an exception. Never called
    with a database transaction open: see ``billing.services.refund_payment``.
``retrieve_refund(*, idempotency_key)``
    What became of a refund sent with this key, or None when the processor never
    received it; the reconciliation asks this of refunds left pending.

Adding Stripe is a ``StripeGateway`` class with these methods, a branch in
:func:`get_gateway` and, in the card-link page, a template that mounts Stripe.js
when ``gateway.collects_card_in_page`` is False. No caller changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from opus.lib.errors import BusinessRuleError


class CardError(BusinessRuleError):
    """The processor refused the card; ``code`` is the processor's reason and the
    message is for the person typing the card (or the staff charging it)."""

    def __init__(self, message: str, *, code: str, field: str | None = None):
        super().__init__(message, field=field)
        self.code = code


class CardDeclined(CardError):
    """The card's bank refused: when saving it, or when charging it."""


class GatewayError(Exception):
    """The processor could not be reached or answered nonsense: nothing happened,
    try again with the same idempotency key."""


@dataclass(frozen=True)
class CardDetails:
    """A card as typed. Lives only for one request; its repr hides the secrets."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    name: str = ""

    def __repr__(self) -> str:
        return (
            f"CardDetails(number=[hidden], exp={self.exp_month:02d}/{self.exp_year}, cvc=[hidden])"
        )


@dataclass(frozen=True)
class CardSetup:
    """A started card setup. ``client_secret`` is for a processor's script in the
    page (empty for the simulated gateway, which takes the card server-side)."""

    id: str
    client_secret: str = ""


@dataclass(frozen=True)
class SavedCard:
    """What Opus may keep of a card."""

    gateway: str
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    charge_id: str
    amount: Decimal
    currency: str
    decline_code: str = ""
    message: str = ""
    # The bank asks the payer to authenticate (3-D Secure): nothing is charged yet;
    # ``client_secret`` lets the processor's script in a page finish it.
    requires_action: bool = False
    client_secret: str = ""


@dataclass(frozen=True)
class RefundResult:
    succeeded: bool
    refund_id: str
    amount: Decimal
    currency: str
    message: str = ""


class PaymentGateway(Protocol):
    name: str
    collects_card_in_page: bool

    def create_setup(self, *, reference: str, payer=None) -> CardSetup: ...

    def confirm_setup(
        self, *, setup: CardSetup, card: CardDetails | None = None, confirmation: str = ""
    ) -> SavedCard: ...

    def charge(
        self,
        *,
        token: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        description: str = "",
    ) -> ChargeResult: ...

    def retrieve_charge(self, *, idempotency_key: str) -> ChargeResult | None: ...

    def refund(
        self, *, charge_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult: ...

    def retrieve_refund(self, *, idempotency_key: str) -> RefundResult | None: ...

    # Only a processor whose script takes the card in the page
    # (``collects_card_in_page`` False, Stripe): the setup a page started, again
    # (None once it can no longer take a card).
    def retrieve_setup(self, *, setup_id: str) -> CardSetup | None: ...


# The simulated processor is part of the development kit, which production does
# not install (the production settings refuse it).
SIMULATED = "devkit.gateway.SimulatedGateway"
STRIPE = "billing.stripe_gateway.StripeGateway"
MOVED = {"billing.gateway.SimulatedGateway": SIMULATED}


def get_gateway() -> PaymentGateway:
    """The processor chosen by settings.OPUS_PAYMENT_GATEWAY: "simulated" (short
    for devkit.gateway.SimulatedGateway), "stripe" (billing.stripe_gateway), or
    the dotted path of a class with the calls above."""
    name = getattr(settings, "OPUS_PAYMENT_GATEWAY", "simulated")
    if name in MOVED:
        raise ImproperlyConfigured(
            f"OPUS_PAYMENT_GATEWAY={name!r}: the simulated gateway moved to the development "
            f"kit; set OPUS_PAYMENT_GATEWAY=simulated (or {MOVED[name]!r})."
        )
    if name == "simulated":
        name = SIMULATED
    elif name == "stripe":
        name = STRIPE
    if "." in name:
        try:
            return import_string(name)()
        except ImportError as error:
            raise ImproperlyConfigured(
                f"OPUS_PAYMENT_GATEWAY={name!r} does not load: {error}"
            ) from error
    raise ImproperlyConfigured(
        f"unknown OPUS_PAYMENT_GATEWAY {name!r}; known: 'simulated', 'stripe', "
        "or a class's dotted path"
    )
