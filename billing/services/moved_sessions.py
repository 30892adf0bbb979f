"""Sessions moved to another payer: what ``billing.rebilling`` works out for the
old payer (credits, refunds owed) and the attendee (the invoice that takes over),
written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from billing.emails import MOVED_NOTICE
from billing.models import AccountEntry, Payment, Refund
from billing.permissions import can_manage_billing, require_billing_actor
from billing.rebilling import (
    LEFTOVER_CHOICES,
    LEFTOVER_REFUND,
    REBOOK_CREDIT_REASON,
    OldPayerMoney,
    TakenOver,
    sessions_per_unit,
    sessions_text,
)
from billing.selectors import invoice_practitioners
from billing.services.accounts import grant_account_credit
from billing.services.invoices import (
    add_charge,
    add_credit,
    create_draft,
    credit_open_invoice,
    issue_invoice,
    send_invoice,
)
from billing.services.refunds import refund_account_credit
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM, require_actor
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money, round_money
from opus.services import queue_email
from scheduling.models import SessionDate


# --- sessions moved to another payer (``billing.rebilling`` works out the money) ---------------
@dataclass
class PaidBack:
    """What became of the money the old payer had already paid for moved sessions:
    account credit (always written first), and the refunds paying it out when the
    user chose to refund it (a card refund is pending until ``run_refund``)."""

    credits: list[AccountEntry] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    refund_error: BusinessRuleError | None = None

    def text(self, payer_name: str) -> str | None:
        """The confirmation's sentence: what was kept, what was refunded and how."""
        if not self.credits:
            return None
        currency = self.credits[0].account.currency
        kept = sum((entry.amount for entry in self.credits), Decimal(0))
        numbers = ", ".join(entry.invoice.display_number for entry in self.credits if entry.invoice)
        paid = f"{format_money(kept, currency)} paid by {payer_name} for moved sessions"
        if not self.refunds:
            return f"{paid} is kept as account credit for their next invoices ({numbers})."
        going = [
            r for r in self.refunds if r.status in (Refund.Status.PENDING, Refund.Status.SUCCEEDED)
        ]
        refunded = sum((r.amount for r in going), Decimal(0))
        hows = "; ".join(sorted({_how(r) for r in going}))
        if going and refunded == kept:
            text = f"{paid} is refunded ({hows}; {numbers})"
        elif going:
            text = (
                f"{format_money(refunded, currency)} of the {paid} is refunded ({hows}); "
                f"{format_money(kept - refunded, currency)} stays as account credit "
                "(the invoice's payments could not take more)"
            )
        else:
            text = f"{paid} could not be refunded: it stays as account credit ({numbers})"
        return text + "."


GOING = (Refund.Status.PENDING, Refund.Status.SUCCEEDED)


def _how(refund: Refund) -> str:
    if refund.method == Refund.Method.CARD:
        if refund.status == Refund.Status.SUCCEEDED:
            return "to the card"
        return "to the card, the processor's answer awaited"
    return f"paid back by {refund.get_method_display().lower()}, recorded"


def settle_old_payer(money: OldPayerMoney, *, actor, request_key: str = "") -> PaidBack:
    """Apply what ``old_payer_money`` worked out. The credits are Opus's (as a
    booking's invoice is): a practitioner may rebook, changing invoices is
    staff's; the history says who rebooked (``actor``). What the old payer had
    already paid for the moved sessions goes to their account; when the user
    chose to refund it (staff only: money leaves the practice), it is paid out at
    once against that invoice's payments (card refunds are recorded pending: send
    them with ``run_refund`` once committed). Returns what became of it."""
    require_actor(actor)
    paid_back = PaidBack()
    payer = money.payer
    if payer is None:  # the old relationship billed nothing
        return paid_back
    if money.leftover not in LEFTOVER_CHOICES:
        raise BusinessRuleError("Choose: keep it as account credit, or refund it.")
    if money.leftover == LEFTOVER_REFUND and not can_manage_billing(actor):
        raise BusinessRuleError(
            "Only staff can refund: the money already paid is kept as account credit."
        )

    for item in money.invoices:
        for credit in item.credits:
            line = {
                "invoice": item.invoice,
                "amount": credit.amount,
                "reason": REBOOK_CREDIT_REASON,
                "description": credit.description,
                "subscription": credit.share.subscription,
                "booking": credit.share.booking,
            }
            if item.is_draft:  # not issued: the credit simply goes on it
                add_credit(**line, actor=SYSTEM)
            else:
                credit_open_invoice(**line, actor=SYSTEM)
        if item.is_draft and item.credits:
            record_event(
                client=payer,
                kind=ClientEvent.Kind.INVOICE,
                summary=(
                    f"Credit of {format_money(item.credited, item.invoice.currency)} on "
                    f"{item.invoice.display_number} (not issued yet) for sessions rebooked "
                    "under the attendee's own account"
                ),
                actor=actor,
                practitioners=invoice_practitioners(item.invoice),
            )
        if item.refund:
            paid_back.credits.append(_keep_as_credit(item, payer, money.attendee))
    if money.leftover == LEFTOVER_REFUND and paid_back.credits:
        paid_back.refunds = _refund_credits(money, paid_back.credits, actor=actor, key=request_key)

    _queue_moved_notice(money, paid_back)
    return paid_back


def _keep_as_credit(item, payer: Client, attendee: Client | None) -> AccountEntry:
    return grant_account_credit(
        payer=payer,
        amount=item.refund,
        currency=item.invoice.currency,
        kind=AccountEntry.Kind.REBOOKING,
        description=f"Paid on {item.invoice.display_number} for sessions moved to "
        + (f"{attendee.full_name}'s own account" if attendee else "another payer"),
        reason=REBOOK_CREDIT_REASON,
        invoice=item.invoice,
        actor=SYSTEM,  # Opus's, as the credit lines are; the rebooking's history says who
    )


def _refund_credits(money: OldPayerMoney, credits, *, actor, key: str) -> list[Refund]:
    """Pay the credits just written out again, each against its invoice's payments."""
    key = key or uuid.uuid4().hex
    refunds: list[Refund] = []
    for entry in credits:
        refunds += refund_account_credit(
            payer=money.payer,
            currency=entry.account.currency,
            amount=entry.amount,
            reason=f"Paid for sessions rebooked under {money.attendee.full_name}'s own account"
            if money.attendee
            else "Paid for sessions rebooked under another payer",
            payments=list(Payment.objects.filter(invoice=entry.invoice).select_related("invoice")),
            request_key=f"rebook-{key}-{entry.invoice_id}"[:80],
            actor=actor,
        )
    return refunds


def _queue_moved_notice(money: OldPayerMoney, paid_back: PaidBack) -> None:
    """Tell the old payer what changed for them: the sessions now billed to the
    attendee, and per invoice what is credited, and what they had paid for them:
    kept on their account or refunded."""
    payer = money.payer
    if payer is None or not payer.email or money.attendee is None:
        return
    refunded: dict[int, Decimal] = {}
    for refund in paid_back.refunds:
        invoice_id = refund.payment.invoice_id
        refunded[invoice_id] = refunded.get(invoice_id, Decimal(0)) + refund.amount
    items = [
        {
            "invoice_id": item.invoice.pk,
            "credited": str(item.credited),
            "refund": str(item.refund),
            "refunded": str(refunded.get(item.invoice.pk, Decimal(0))),
        }
        for item in money.invoices
        if item.credited or item.refund
    ]
    queue_email(
        template=MOVED_NOTICE,
        to=payer.email,
        client=payer,
        context={"attendee_id": money.attendee.pk, "items": items},
    )


def bill_attendee(money: OldPayerMoney, *, relationship, subscriptions, bookings, actor) -> None:
    """One invoice per currency to the new payer for what the old payer was relieved
    of, each line linked to the rebooked subscription or booking. Issued by the
    system, as "Create Session" issues a booking's invoice."""
    require_billing_actor(actor)
    old_payer = money.payer
    if old_payer is None:  # nothing was billed to take over
        return
    by_currency: dict[str, list[TakenOver]] = {}
    for item in money.taken_over():
        by_currency.setdefault(item.currency, []).append(item)
    for currency, items in by_currency.items():
        invoice = create_draft(
            payer=relationship.payer, relationship=relationship, actor=actor, currency=currency
        )
        for item in items:
            new_subscription = subscriptions.get(getattr(item.subscription, "pk", None))
            dates = None
            if new_subscription is not None and item.dates:
                # the rebooked subscription counts the very dates the old payer was relieved of
                dates = list(
                    SessionDate.objects.filter(
                        session_id=new_subscription.session_id, date__in=item.dates
                    ).order_by("date")
                )
            for quantity, unit_price in _lines_for(item):
                add_charge(
                    invoice=invoice,
                    actor=actor,
                    description=_taken_over_description(item, old_payer),
                    quantity=quantity,
                    unit_price=unit_price,
                    subscription=new_subscription,
                    booking=bookings.get(getattr(item.booking, "pk", None)),
                    dates=dates,
                )
                dates = None  # on the first line of a split: the dates are the item's
        issued = issue_invoice(invoice=invoice, actor=actor)  # autopay follows, as for any
        if issued.status == issued.Status.OPEN:
            send_invoice(invoice=issued, actor=actor)


def _lines_for(item: TakenOver) -> list[tuple[Decimal, Decimal]]:
    """(quantity, unit price) of the lines that bill exactly ``item.amount`` in the
    units the service bills by (sessions, or months for a monthly service), so that
    a later transfer counts the sessions paid for right: one line when a unit price
    in the currency's minor unit comes out exact, else the last unit apart at
    what remains (2 x 21.67 cannot make 43.33: 1 x 21.67 and 1 x 21.66 do). Only
    a part of a month that two decimals cannot write (2 sessions of a service of 3
    a month) is billed as one unit of the whole amount."""

    if item.subscription is not None:
        service = item.subscription.session.service
    else:
        assert item.booking is not None  # a share is a subscription's or a booking's
        service = item.booking.session_date.session.service
    units = item.sessions / sessions_per_unit(service)
    if units <= 0 or units != units.quantize(Decimal("0.01")):
        return [(Decimal(1), item.amount)]
    unit_price = round_money(item.amount / units, item.currency)
    if round_money(unit_price * units, item.currency) == item.amount:
        return [(units, unit_price)]
    if units > 1:
        rest = units - 1
        last = item.amount - round_money(unit_price * rest, item.currency)
        if last >= 0:
            return [(rest, unit_price), (Decimal(1), last)]
    return [(Decimal(1), item.amount)]


def _taken_over_description(item: TakenOver, old_payer: Client) -> str:
    if item.subscription is not None:
        what = (
            f"{item.subscription.session.service.name}: {sessions_text(item.sessions)} "
            f"from {item.subscription.next_date:%-d %b %Y}"
        )
    else:
        assert item.booking is not None
        session_date = item.booking.session_date
        what = f"{session_date.session.service.name}, {session_date.date:%a %-d %b %Y}"
    return (
        f"{what} (until now billed to {old_payer.full_name} on {item.from_invoice.display_number})"
    )
