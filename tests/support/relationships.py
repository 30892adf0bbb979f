from decimal import Decimal

from billing import services as billing
from billing.models import Invoice
from opus.lib.actors import SYSTEM


def bill(world, *lines, pay=None, percent=None, issue=True) -> Invoice:
    """An invoice to Oliver of the rebooking world (tests/relationships/conftest.py):
    lines of (quantity, unit price, link), issued unless told not to, paid in part or
    in full when ``pay`` says how much."""
    invoice = billing.create_draft(actor=SYSTEM, payer=world["payer"], relationship=world["old"])
    for quantity, price, link in lines:
        billing.add_charge(
            actor=SYSTEM,
            invoice=invoice,
            description="Lessons",
            quantity=Decimal(quantity),
            unit_price=Decimal(price),
            **link,
        )
    if percent:
        billing.add_discount(
            actor=SYSTEM, invoice=invoice, percent=Decimal(percent), reason="Siblings"
        )
    if issue:
        invoice = billing.issue_invoice(actor=SYSTEM, invoice=invoice)
    if pay == "all":
        pay = invoice.total
    if pay:
        billing.record_payment(actor=SYSTEM, invoice=invoice, amount=Decimal(pay), method="cash")
    invoice.refresh_from_db()
    return invoice
