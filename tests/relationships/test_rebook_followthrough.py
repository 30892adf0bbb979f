"""After a rebooking the attendee's new invoices follow the same rules as any
(emailed with their pay link, charged by autopay), and the old payer is told
what changed for them."""

import pytest

from billing.models import AutopayPlan, Invoice
from frontdesk import relationship_flows as services
from opus.mail import EMAIL_KINDS, build_message
from opus.models import OutboundEmail
from tests.support.relationships import bill

pytestmark = pytest.mark.django_db


def rebook(world, actor, *, bookings):
    return services.rebook_coming_sessions(
        relationship=world["new"],
        actor=actor,
        booking_ids=[b.pk for b in bookings],
        subscription_ids=[world["subscription"].pk],
    )


def rendered(row):
    return build_message(
        row.template, to=row.to_address, context=EMAIL_KINDS[row.template].context(row)
    )


def test_the_attendees_invoice_is_emailed_and_autopaid_and_the_old_payer_told(world, therapist):
    world["payer"].email = "oliver@example.com"
    world["payer"].save()
    attendee = world["new"].payer
    attendee.email = "sam@example.com"
    attendee.save()
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    rebook(world, therapist, bookings=[])
    new_invoice = Invoice.objects.get(payer=attendee)
    assert new_invoice.status == Invoice.Status.OPEN
    sent = OutboundEmail.objects.get(template="invoice", to_address="sam@example.com")
    assert sent.context == {"invoice_id": new_invoice.pk}
    assert "/pay/" in rendered(sent).body
    assert AutopayPlan.objects.filter(invoice=new_invoice, next_attempt_at__isnull=False).exists()
    notice = OutboundEmail.objects.get(
        template="moved_sessions_notice", to_address="oliver@example.com"
    )
    body = " ".join(rendered(notice).body.split())
    assert "now billed to Sam, not to you" in body
    assert f"Invoice {invoice.display_number}: £90.00 credited for the moved sessions." in body


def test_no_notice_when_the_old_payer_has_no_email(world, therapist):
    world["payer"].email = ""
    world["payer"].save()
    bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    rebook(world, therapist, bookings=[])
    assert not OutboundEmail.objects.filter(template="moved_sessions_notice").exists()
