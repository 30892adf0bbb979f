from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.gateway import CardDetails, get_gateway
from billing.models import PaymentMethod
from billing.tokens import token_for
from opus.lib.actors import SYSTEM
from tests.factories import ClientFactory

# The card that card_post fills in.
NUMBER = "4242424242424242"
CVC = "987"


def next_year() -> int:
    return timezone.localdate().year + 2


def card_details(number="4242424242424242", cvc="123", **kwargs) -> CardDetails:
    return CardDetails(
        number=number,
        exp_month=kwargs.get("exp_month", 12),
        exp_year=kwargs.get("exp_year", next_year()),
        cvc=cvc,
        name=kwargs.get("name", "Ada Payer"),
    )


def save_card(client, number="4242424242424242", cvc="123") -> PaymentMethod:
    """A card saved at the simulated gateway, on file for the client."""
    gateway = get_gateway()
    saved = gateway.confirm_setup(
        setup=gateway.create_setup(reference="test"), card=card_details(number, cvc)
    )
    return PaymentMethod.objects.create(
        client=client,
        gateway=saved.gateway,
        token=saved.token,
        brand=saved.brand,
        last4=saved.last4,
        exp_month=saved.exp_month,
        exp_year=saved.exp_year,
    )


def open_invoice(*, payer=None, amount="100.00", staff=None, relationship=None):
    payer = payer or (relationship.payer if relationship else ClientFactory())
    invoice = services.create_draft(actor=SYSTEM, payer=payer, relationship=relationship)
    services.add_charge(
        actor=SYSTEM, invoice=invoice, description="Lessons", unit_price=Decimal(amount)
    )
    return services.issue_invoice(
        invoice=invoice, due_on=timezone.localdate() + timedelta(days=14), actor=staff or SYSTEM
    )


def make_card_request(client=None, actor=None, reason="To pay for piano lessons"):
    client = client or ClientFactory()
    card_request = services.request_payment_card(
        client=client, actor=actor or SYSTEM, reason=reason
    )
    return card_request, token_for(card_request)


def link(token: str) -> str:
    return reverse("billing:card-link", args=[token])


def card_post(number=NUMBER, cvc=CVC, **extra):
    return {
        "name": "Ada Lovelace",
        "number": number,
        "exp_month": "12",
        "exp_year": str(next_year()),
        "cvc": cvc,
        **extra,
    }
