"""What becomes of the unused value a transfer's new invoice cannot take: kept as
account credit (the default) or refunded, really, and said."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Account, AccountEntry, Payment, Refund
from clients.models import ClientEvent
from frontdesk import transfers
from opus.lib.errors import BusinessRuleError
from tests.factories import paid_invoice_for
from tests.support.transfer import PAY_LATER, draft_to

pytestmark = pytest.mark.django_db


def leftover_draft(world, staff, leftover=None):
    paid_invoice_for(world["subscription"], 12, staff)  # 240.00 paid, 8 sessions unused
    draft = draft_to(world, staff)
    transfers.set_credit(actor=staff, draft=draft, apply=True, leftover=leftover)
    return draft


def test_the_leftover_is_kept_as_account_credit_by_default(world, staff):
    draft = leftover_draft(world, staff)
    preview = transfers.preview(draft)
    left = preview.unused.left_over
    assert left > 0
    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    payer = world["relationship"].payer
    assert Account.objects.get(payer=payer).balance == left
    entry = AccountEntry.objects.get()
    assert entry.kind == "transfer" and entry.source == f"transfer:{outcome.transfer.pk}"
    assert not Refund.objects.exists()
    assert "kept as account credit" in outcome.leftover_text()
    assert ClientEvent.objects.filter(client=payer, summary__contains="Account credit").exists()
    # a replay credits nothing more
    again = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert again.replayed and AccountEntry.objects.count() == 1


def test_the_leftover_refunded_is_paid_back_against_the_old_payment(world, staff):
    draft = leftover_draft(world, staff, leftover="refund")
    left = transfers.preview(draft).unused.left_over
    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    refund = Refund.objects.get()
    assert (refund.amount, refund.method, refund.status, refund.from_account) == (
        left,
        "cash",
        "succeeded",
        True,
    )
    payment = Payment.objects.get(pk=refund.payment_id)
    assert payment.refunded == left
    payer = world["relationship"].payer
    assert Account.objects.get(payer=payer).balance == Decimal(0)
    kinds = list(AccountEntry.objects.order_by("position").values_list("kind", flat=True))
    assert kinds == ["transfer", "refunded"]
    assert "is refunded" in outcome.leftover_text()


def test_the_choice_is_one_of_two(world, staff):
    draft = draft_to(world, staff)
    with pytest.raises(BusinessRuleError):
        transfers.set_credit(actor=staff, draft=draft, apply=True, leftover="cash it")


def test_the_checkout_offers_the_choice_and_keeps_it(world, staff, staff_client):
    draft = leftover_draft(world, staff)
    url = reverse("scheduling:transfer-step", args=[draft.public_id, "payment"])
    page = " ".join(staff_client.get(url).content.decode().split())
    assert "Keep it as account credit" in page and "Refund it" in page
    assert "is more than this invoice. What becomes of it?" in page
    post = reverse("scheduling:transfer-credit", args=[draft.public_id])
    staff_client.post(post, {"apply": "1", "leftover": "refund"})
    draft.refresh_from_db()
    assert draft.leftover == "refund" and draft.apply_credit
    fragment = staff_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'value="refund" checked' in " ".join(fragment.split())
    bad = staff_client.post(post, {"apply": "1", "leftover": "cash it"})
    assert bad.status_code in (200, 302)
    draft.refresh_from_db()
    assert draft.leftover == "refund"
