"""What the old payer had already paid for rebooked sessions: kept as account
credit (the default) or, when staff choose it, refunded for real (to the card
through the gateway, or recorded as paid back the way it was paid), and said."""

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services as billing
from billing.gateway import RefundResult
from billing.models import Account, AccountEntry, Payment, Refund
from devkit.gateway import SimulatedGateway
from devkit.models import SimulatedGatewayRefund
from frontdesk import relationship_flows as services
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.mail import EMAIL_KINDS, build_message
from opus.models import OutboundEmail
from scheduling.models import Booking
from tests.support.billing import save_card
from tests.support.relationships import bill

pytestmark = pytest.mark.django_db

PREVIEW = {"HX-Request": "true", "HX-Target": "rebook-preview"}


def rebook(world, actor, leftover="credit"):
    return services.rebook_coming_sessions(
        relationship=world["new"],
        actor=actor,
        booking_ids=[],
        subscription_ids=[world["subscription"].pk],
        leftover=leftover,
    )


def notice_text(row) -> str:
    context = EMAIL_KINDS[row.template].context(row)
    return " ".join(build_message(row.template, to=row.to_address, context=context).body.split())


def balance(world):
    return Account.objects.get(payer=world["payer"]).balance


def test_refunded_by_staff_a_cash_payment_is_recorded_as_paid_back_in_cash(world, staff):
    world["payer"].email = "oliver@example.com"
    world["payer"].save()
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="all")
    result = rebook(world, staff, leftover="refund")
    refund = Refund.objects.get()
    assert (refund.amount, refund.method, refund.status, refund.from_account) == (
        Decimal("90.00"),
        "cash",
        "succeeded",
        True,
    )
    assert Payment.objects.get(invoice=invoice).refunded == Decimal("90.00")
    assert balance(world) == 0
    kinds = list(AccountEntry.objects.order_by("position").values_list("kind", flat=True))
    assert kinds == ["rebooking", "refunded"]
    assert (
        f"£90.00 paid by Oliver Grant for moved sessions is refunded (paid back by cash, "
        f"recorded; {invoice})." in result.sentences()
    )
    notice = OutboundEmail.objects.get(template="moved_sessions_notice")
    body = notice_text(notice)
    assert f"Invoice {invoice}: £90.00 you paid for them is refunded to you." in body
    assert "kept as credit" not in body


def test_kept_as_credit_the_notice_says_it_pays_the_next_invoices(world, staff):
    world["payer"].email = "oliver@example.com"
    world["payer"].save()
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="all")
    rebook(world, staff)
    assert balance(world) == Decimal("90.00") and not Refund.objects.exists()
    notice = OutboundEmail.objects.get(template="moved_sessions_notice")
    body = notice_text(notice)
    assert (
        f"Invoice {invoice}: £90.00 you paid for them is kept as credit on your account: "
        "it pays your next invoices." in body
    )


@pytest.mark.django_db(transaction=True)  # the card is charged and refunded outside one
def test_a_card_payment_is_refunded_to_the_card_through_the_gateway(world, staff):
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    card = save_card(world["payer"])
    billing.charge_card(invoice=invoice, payment_method=card, request_key="pay-1", actor=SYSTEM)
    result = rebook(world, staff, leftover="refund")
    refund = Refund.objects.get()
    assert (refund.method, refund.status, refund.amount) == ("card", "succeeded", Decimal(90))
    assert refund.gateway_refund_id.startswith("re_sim_")
    assert SimulatedGatewayRefund.objects.count() == 1
    assert balance(world) == 0
    assert any("is refunded (to the card;" in s for s in result.sentences())


@pytest.mark.django_db(transaction=True)
def test_a_refused_card_refund_leaves_the_money_as_account_credit_and_says_so(
    world, staff, monkeypatch
):
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    card = save_card(world["payer"])
    billing.charge_card(invoice=invoice, payment_method=card, request_key="pay-1", actor=SYSTEM)

    def refuse(self, **kwargs):
        return RefundResult(False, "", Decimal(90), "GBP", message="Charge disputed.")

    monkeypatch.setattr(SimulatedGateway, "refund", refuse)
    result = rebook(world, staff, leftover="refund")
    assert Refund.objects.get().status == "declined"
    assert balance(world) == Decimal("90.00")  # the credit restored
    said = " ".join(result.sentences())
    assert "The card processor refused the refund: Charge disputed." in said


def test_a_practitioner_cannot_refund_and_nothing_moves(world, therapist):
    bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="all")
    with pytest.raises(BusinessRuleError, match="Only staff can refund"):
        rebook(world, therapist, leftover="refund")
    assert not AccountEntry.objects.exists() and not Refund.objects.exists()
    assert world["subscription"].__class__.objects.get(pk=world["subscription"].pk).end_date is None


def test_the_choice_is_one_of_two(world, staff):
    bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="all")
    with pytest.raises(BusinessRuleError, match="keep it as account credit, or refund it"):
        rebook(world, staff, leftover="cash it")
    assert not AccountEntry.objects.exists()


def test_staff_see_the_choice_preview_it_and_the_confirmation_says_what_happened(
    world, staff_client
):
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="all")
    url = reverse("relationships:detail", args=[world["new"].pk])
    page = html.unescape(staff_client.get(url).content.decode())
    assert "Keep it as account credit" in page and "Refund it" in page
    assert re.search(r'value="credit"\s+checked', page)
    assert "will be kept as account credit for their next invoices" in page
    fragment = html.unescape(
        staff_client.get(
            url,
            {"chosen": "1", "subscription": [world["subscription"].pk], "leftover": "refund"},
            headers=PREVIEW,
        ).content.decode()
    )
    assert "<html" not in fragment
    assert (
        f"£90.00 paid by Oliver Grant for moved sessions will be refunded to them ({invoice})."
        in fragment
    )
    odd = staff_client.get(url, {"chosen": "1", "leftover": "²"}, headers=PREVIEW)
    assert odd.status_code == 200
    response = staff_client.post(
        reverse("relationships:rebook", args=[world["new"].pk]),
        {"subscription": [world["subscription"].pk], "leftover": "refund"},
    )
    assert response.status_code == 302
    done = html.unescape(staff_client.get(url).content.decode())
    assert "£90.00 paid by Oliver Grant for moved sessions is refunded (paid back by cash" in done
    assert Refund.objects.count() == 1
    # a second submit of the same form moves nothing and refunds nothing more
    staff_client.post(
        reverse("relationships:rebook", args=[world["new"].pk]),
        {"subscription": [world["subscription"].pk], "leftover": "refund"},
    )
    assert Refund.objects.count() == 1
    assert Booking.objects.count() == 2
