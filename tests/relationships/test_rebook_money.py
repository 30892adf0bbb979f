"""Rebooking is honest about money for the old payer: what their open invoices
billed for the moved sessions is credited, what they already paid is kept as
account credit (or refunded, when staff choose it: test_rebook_paid_back.py), and
the past stays theirs. On PostgreSQL, with the real triggers."""

from decimal import Decimal

import pytest

from billing import rebilling
from billing import services as billing
from billing.models import Account, AccountEntry, InvoiceLine, Refund
from clients.models import ClientEvent
from frontdesk import relationship_flows as services
from frontdesk import selectors
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.lib.money import round_money
from scheduling.models import Booking, DateAbsence, Service
from tests.support.relationships import bill

pytestmark = pytest.mark.django_db


def rebook(world, actor, *, subscription=True, bookings=None):
    return services.rebook_coming_sessions(
        relationship=world["new"],
        actor=actor,
        booking_ids=[b.pk for b in (world["bookings"] if bookings is None else bookings)],
        subscription_ids=[world["subscription"].pk] if subscription else [],
    )


def credits_on(invoice):
    return list(InvoiceLine.objects.filter(invoice=invoice, kind="credit"))


def refund_events(world):
    """The history lines of what was already paid, kept on the payer's account."""
    return list(
        ClientEvent.objects.filter(
            client=world["payer"], summary__contains="Already paid for rebooked sessions"
        )
    )


def kept(amount, invoice) -> str:
    return f"Account credit of £{amount} (Already paid for rebooked sessions, {invoice})"


def test_an_open_invoice_is_credited_exactly_what_it_billed_for_the_moved_sessions(
    world, therapist
):
    sub = world["subscription"]
    invoice = bill(world, (6, "30.00", {"subscription": sub}))  # 3 past + 3 coming
    number = invoice.number
    result = rebook(world, therapist, bookings=[])
    invoice.refresh_from_db()
    (line,) = credits_on(invoice)
    cut_over = world["cut_over"]
    assert line.amount == Decimal("90.00") and line.subscription_id == sub.pk
    assert line.description == (
        f"Credit: 3 sessions of Piano moved to Sam Rivera's own account from {cut_over:%-d %b %Y}"
    )
    assert line.reason
    assert (invoice.number, invoice.status, invoice.total) == (number, "open", Decimal("90.00"))
    assert result.money.credited == {"GBP": Decimal("90.00")} and result.money.refund == {}
    assert ClientEvent.objects.filter(
        client=world["payer"], summary__startswith=f"Credit of £90.00 on {invoice}"
    ).exists()
    assert refund_events(world) == []


def test_a_credit_that_clears_the_balance_leaves_the_invoice_paid_and_the_rest_to_refund(
    world, therapist
):
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="100.00")
    result = rebook(world, therapist, bookings=[])
    invoice.refresh_from_db()
    (line,) = credits_on(invoice)
    assert line.amount == Decimal("80.00")  # the balance; 10.00 of the 90.00 was paid
    assert invoice.status == "paid" and invoice.total == Decimal("100.00")
    assert result.money.refund == {"GBP": Decimal("10.00")}
    (event,) = refund_events(world)
    assert event.summary.startswith(kept("10.00", invoice))
    assert Account.objects.get(payer=world["payer"]).balance == Decimal("10.00")


def test_a_booking_billed_alone_is_credited_in_full_and_its_invoice_is_settled(world, therapist):
    first = world["bookings"][0]
    invoice = bill(world, (1, "40.00", {"booking": first}))
    rebook(world, therapist, subscription=False, bookings=[first])
    invoice.refresh_from_db()
    (line,) = credits_on(invoice)
    assert line.amount == Decimal("40.00") and line.booking_id == first.pk
    assert line.description.startswith("Credit: Guitar on ")
    assert line.description.endswith("moved to Sam Rivera's own account")
    assert invoice.status == "paid" and invoice.total == 0


def test_what_was_already_paid_is_kept_as_account_credit_by_default(world, therapist):
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="all")
    lines_before = invoice.lines.count()
    result = rebook(world, therapist, bookings=[])
    invoice.refresh_from_db()
    assert credits_on(invoice) == [] and invoice.lines.count() == lines_before
    assert invoice.status == "paid" and invoice.total == Decimal("180.00")
    (event,) = refund_events(world)
    assert event.kind == ClientEvent.Kind.PAYMENT
    assert event.summary.startswith(kept("90.00", invoice))
    (entry,) = AccountEntry.objects.filter(account__payer=world["payer"])
    assert (entry.kind, entry.amount, entry.invoice_id) == ("rebooking", Decimal(90), invoice.pk)
    assert not Refund.objects.exists()
    assert (
        f"£90.00 paid by Oliver Grant for moved sessions is kept as account credit for their "
        f"next invoices ({invoice})." in result.sentences()
    )


def test_nothing_is_credited_or_refunded_for_past_sessions(world, therapist):
    sub = world["subscription"]
    # a past date the client was unenrolled from still stays with the old payer
    DateAbsence.objects.create(subscription=sub, session_date=world["past"][1])
    paid = bill(world, (2, "30.00", {"subscription": sub}), pay="all")
    open_ = bill(world, (1, "30.00", {"subscription": sub}))
    result = rebook(world, therapist, bookings=[])
    assert InvoiceLine.objects.filter(kind="credit").count() == 0
    assert refund_events(world) == []
    open_.refresh_from_db()
    paid.refresh_from_db()
    assert (open_.status, open_.total, paid.total) == ("open", Decimal(30), Decimal(60))
    assert result.money.sentences(done=True) == [
        "Nothing was billed to Oliver Grant for these sessions: nothing to credit or refund."
    ]


def test_the_newest_invoices_are_the_ones_that_billed_the_moved_sessions(world, therapist):
    sub = world["subscription"]
    paid = bill(world, (4, "30.00", {"subscription": sub}), pay="all")  # 3 past + 1 coming
    open_ = bill(world, (4, "30.00", {"subscription": sub}))  # 4 coming
    rebook(world, therapist, bookings=[])
    open_.refresh_from_db()
    assert [c.amount for c in credits_on(open_)] == [Decimal("120.00")]
    assert open_.status == "paid" and open_.total == 0
    (event,) = refund_events(world)
    assert event.summary.startswith(kept("30.00", paid))


def test_only_the_chosen_sessions_are_credited(world, therapist):
    first, second = world["bookings"]
    one = bill(world, (1, "40.00", {"booking": first}))
    two = bill(world, (1, "40.00", {"booking": second}))
    sub_invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    rebook(world, therapist, subscription=False, bookings=[second])
    for invoice in (one, two, sub_invoice):
        invoice.refresh_from_db()
    assert credits_on(one) == [] and credits_on(sub_invoice) == []
    assert [c.amount for c in credits_on(two)] == [Decimal("40.00")]
    assert (one.status, one.total) == ("open", Decimal(40))
    assert sub_invoice.total == Decimal(180)


def test_rebooking_twice_credits_once(world, therapist):
    invoice = bill(
        world,
        (6, "30.00", {"subscription": world["subscription"]}),
        (1, "40.00", {"booking": world["bookings"][0]}),
    )
    rebook(world, therapist)
    with pytest.raises(BusinessRuleError, match="nothing was changed"):
        rebook(world, therapist)
    invoice.refresh_from_db()
    assert [c.amount for c in credits_on(invoice)] == [Decimal("90.00"), Decimal("40.00")]
    assert invoice.total == Decimal("90.00")


def test_a_failure_halfway_leaves_no_credit_and_no_refund_record(world, therapist, monkeypatch):
    sub_invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    paid = bill(world, (1, "40.00", {"booking": world["bookings"][0]}), pay="all")
    real = services.record_event

    def failing(**kwargs):  # the last write of the rebook: credits and refund notes are done
        if "rebooked under the first-party" in kwargs["summary"]:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(services, "record_event", failing)
    with pytest.raises(RuntimeError):
        rebook(world, therapist)
    sub_invoice.refresh_from_db()
    paid.refresh_from_db()
    assert InvoiceLine.objects.filter(kind="credit").count() == 0
    assert (sub_invoice.status, sub_invoice.total) == ("open", Decimal(180))
    assert refund_events(world) == [] and not AccountEntry.objects.exists()
    assert not ClientEvent.objects.filter(summary__startswith="Credit of").exists()
    assert Booking.objects.filter(relationship=world["old"], status="booked").count() == 2
    assert selectors.coming_under_old(world["new"], therapist).count == 3


def test_money_is_decimal_at_the_currency_precision_with_discounts_shared_pro_rata(
    world, therapist
):
    sub = world["subscription"]
    Service.objects.filter(pk=sub.session.service_id).update(
        billing_basis="monthly", sessions_per_month=3, price=Decimal(100)
    )
    # one month (3 sessions) billed from the last past date: 1 past, 2 moved
    sub.first_date = world["past"][-1].date
    sub.save(update_fields=["first_date"])
    monthly = bill(world, (1, "100.00", {"subscription": sub}))
    discounted = bill(world, (1, "40.00", {"booking": world["bookings"][0]}), percent="12.5")
    result = rebook(world, therapist, bookings=world["bookings"][:1])
    (month_credit,) = credits_on(monthly)
    (booking_credit,) = credits_on(discounted)
    assert month_credit.amount == Decimal("66.67")  # 2 x 100/3, rounded once
    assert booking_credit.amount == Decimal("35.00")  # 40 less 12.5%
    assert "2 sessions of Piano" in month_credit.description
    for invoice in (monthly, discounted):
        invoice.refresh_from_db()
        totals = billing.invoice_totals(invoice.lines.all())
        assert invoice.total == totals["total"] == round_money(invoice.total, "GBP")
        assert isinstance(invoice.total, Decimal)
    assert monthly.total == Decimal("33.33") and discounted.total == 0
    for amount in (*result.money.credited.values(), month_credit.amount):
        assert isinstance(amount, Decimal) and amount == round_money(amount, "GBP")


def test_a_draft_of_the_old_payer_is_credited_so_issuing_it_charges_nothing_for_them(
    world, therapist
):
    draft = bill(world, (6, "30.00", {"subscription": world["subscription"]}), issue=False)
    result = rebook(world, therapist, bookings=[])
    draft.refresh_from_db()
    moved = result.money.invoices[0]
    assert draft.status == "draft" and moved.is_draft and not moved.settles
    credit = draft.lines.get(kind="credit")
    assert credit.subscription_id == world["subscription"].pk
    assert draft.total == Decimal(180) - credit.amount and credit.amount > 0
    assert result.money.refund == {}
    said = result.money.sentences(done=True)
    assert any("draft invoice (not issued yet)" in s and draft.display_number in s for s in said)
    assert ClientEvent.objects.filter(
        client=world["payer"], summary__contains=f"{draft.display_number} (not issued yet)"
    ).exists()


def test_the_preview_is_what_the_rebook_does(world, therapist):
    bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="100.00")
    bill(world, (1, "40.00", {"booking": world["bookings"][0]}))
    bill(world, (1, "40.00", {"booking": world["bookings"][1]}), pay="all")
    coming = selectors.coming_under_old(world["new"], therapist)
    preview = rebilling.old_payer_money(
        old=coming.old, subscriptions=coming.subscriptions, bookings=coming.bookings
    )
    result = rebook(world, therapist)
    assert preview.credited == result.money.credited == {"GBP": Decimal("120.00")}
    assert preview.refund == result.money.refund == {"GBP": Decimal("50.00")}
    said = [
        s.replace("will be credited", "credited")
        .replace(", which settles it", ": it is now paid")
        .replace("will be invoiced", "is invoiced")
        .replace("will be kept as account credit", "is kept as account credit")
        for s in preview.sentences(done=False)
    ]
    assert said == result.money.sentences(done=True) == result.sentences() and len(said) == 4
    assert preview.billed_to_attendee == result.money.billed_to_attendee
    assert sum(c.amount for c in InvoiceLine.objects.filter(kind="credit")) == Decimal(120)


# --- the attendee is billed what the old payer no longer pays ----------------------------------


def attendees_invoice(world):
    from billing.models import Invoice

    return Invoice.objects.filter(payer=world["new"].payer).first()


def test_the_attendee_is_invoiced_exactly_what_the_old_payer_no_longer_pays(world, therapist):
    open_one = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="100.00")
    bill(world, (1, "40.00", {"booking": world["bookings"][0]}), pay="all")
    result = rebook(world, therapist)
    invoice = attendees_invoice(world)
    assert invoice.status == "open" and invoice.relationship == world["new"]
    assert invoice.number is not None
    # 90.00 for the 3 coming Piano dates (80.00 credited, 10.00 to refund) + 40.00 refunded
    assert invoice.total == Decimal("130.00")
    assert result.money.billed_to_attendee == {"GBP": Decimal("130.00")}
    relieved = sum(result.money.credited.values()) + sum(result.money.refund.values())
    assert relieved == invoice.total  # the practice is paid once for each moved session
    piano, guitar = invoice.lines.order_by("pk")
    successor = world["subscription"].__class__.objects.get(
        relationship=world["new"], session=world["subscription"].session
    )
    assert piano.subscription == successor and (piano.quantity, piano.unit_price) == (3, 30)
    assert f"until now billed to Oliver Grant on {open_one}" in piano.description
    assert guitar.booking == world["bookings"][0].__class__.objects.get(
        relationship=world["new"], session_date=world["bookings"][0].session_date
    )
    said = result.money.sentences(done=True)
    assert "Sam Rivera is invoiced £130.00 for them instead." in said


def test_nothing_billed_before_means_nothing_billed_to_the_attendee(world, therapist):
    result = rebook(world, therapist)
    assert attendees_invoice(world) is None and result.money.billed_to_attendee == {}
    assert not any("invoiced" in s for s in result.money.sentences(done=True))


def test_an_awkward_share_is_still_billed_to_the_cent(world, therapist):
    sub = world["subscription"]
    Service.objects.filter(pk=sub.session.service_id).update(
        billing_basis="monthly", sessions_per_month=3, price=Decimal(100)
    )
    sub.first_date = world["past"][-1].date
    sub.save(update_fields=["first_date"])
    bill(world, (1, "100.00", {"subscription": sub}))  # 1 past, 2 moved: 66.67 credited
    rebook(world, therapist, bookings=[])
    (line,) = attendees_invoice(world).lines.all()
    assert line.amount == Decimal("66.67")


def test_a_credit_carried_in_from_a_transfer_counts_as_paid_for_the_refund(world, therapist):
    """6 Piano sessions (180.00) settled by 60.00 of a transfer's unused value and
    120.00 in cash: the 3 moved sessions were paid for in full, 90.00 comes back."""
    sub = world["subscription"]
    invoice = billing.create_draft(actor=SYSTEM, payer=world["payer"], relationship=world["old"])
    billing.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Lessons",
        quantity=6,
        unit_price=Decimal(30),
        subscription=sub,
    )
    billing.add_credit(
        actor=SYSTEM,
        invoice=invoice,
        amount=Decimal(60),
        reason="Unused",
        description="Unused from Guitar",
    )
    invoice = billing.issue_invoice(actor=SYSTEM, invoice=invoice)
    billing.record_payment(actor=SYSTEM, invoice=invoice, amount=Decimal(120), method="cash")
    result = rebook(world, therapist, bookings=[])
    assert result.money.refund == {"GBP": Decimal("90.00")}
    assert attendees_invoice(world).total == Decimal("90.00")


def test_a_closed_invoice_gives_back_what_was_paid_for_the_moved_sessions(world, therapist):
    invoice = bill(world, (6, "30.00", {"subscription": world["subscription"]}), pay="100.00")
    billing.close_invoice(actor=SYSTEM, invoice=invoice, reason="Agreed: the rest is waived")
    result = rebook(world, therapist, bookings=[])
    assert credits_on(invoice) == []  # a closed invoice takes nothing more
    # 3 past sessions worth 90.00 were paid for; 10.00 of the 100.00 paid the moved ones
    assert result.money.refund == {"GBP": Decimal("10.00")}
    assert attendees_invoice(world).total == Decimal("10.00")


def test_a_waived_closed_invoice_still_counts_the_sessions_it_billed(world, therapist):
    """The first 3 sessions were billed and waived, the next 3 billed and paid: the
    moved 3 are the paid ones, not the waived ones."""
    sub = world["subscription"]
    waived = bill(world, (3, "30.00", {"subscription": sub}))
    billing.close_invoice(actor=SYSTEM, invoice=waived, reason="First month free")
    paid = bill(world, (3, "30.00", {"subscription": sub}), pay="all")
    result = rebook(world, therapist, bookings=[])
    assert result.money.refund == {"GBP": Decimal("90.00")}
    assert [item.invoice.pk for item in result.money.invoices] == [paid.pk]


def test_a_share_that_does_not_divide_is_billed_in_two_lines_that_count_every_session(
    world, therapist
):
    """6 Piano sessions (180.00) less 3.33% (5.99): the 3 moved are worth 87.01,
    which 3 x 29.00 cannot bill. The attendee's lines still bill 3 sessions."""
    bill(world, (6, "30.00", {"subscription": world["subscription"]}), percent="3.33")
    rebook(world, therapist, bookings=[])
    lines = list(attendees_invoice(world).lines.order_by("pk"))
    assert [(line.quantity, line.unit_price) for line in lines] == [
        (Decimal(2), Decimal("29.00")),
        (Decimal(1), Decimal("29.01")),
    ]
    assert sum(line.amount for line in lines) == Decimal("87.01")


def test_a_transfer_and_a_rebooking_value_the_same_discounted_sessions_alike(world, therapist):
    """Issue 10: the transfer credited a discounted subscription at its list price
    (3 x £30), the rebooking at what was paid (3 x £27). Both now ask one function,
    and the answer is what was paid: a credit at list price would hand the 10%
    discount back as money."""
    sub = world["subscription"]
    bill(world, (6, "30.00", {"subscription": sub}), percent="10", pay="all")  # £162 paid
    unused = rebilling.unused_value(sub, world["cut_over"])  # what the transfer credits
    assert (unused.paid_sessions, unused.attended, unused.sessions) == (6, 3, 3)
    assert unused.value == Decimal("81.00")
    result = rebook(world, therapist, bookings=[])  # the same three sessions, rebooked
    assert result.money.refund == {"GBP": unused.value}
