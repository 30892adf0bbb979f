"""What sessions moved between payers or subscriptions are worth: the one answer
to "what did this payer pay for these sessions", used by the session transfer (the
old subscription's unused value) and by the rebooking after a migration to first
party (what the old payer no longer owes, and what the attendee is billed instead).
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import (
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from billing.models import ChargedDate, Invoice, InvoiceLine
from billing.selectors import MONEY, with_balance
from clients.models import Client
from opus.lib.money import format_money, round_money
from relationships.models import Relationship
from scheduling.models import Booking, Service, Subscription
from scheduling.selectors import count_dates_before

LEFTOVER_CREDIT, LEFTOVER_REFUND = "credit", "refund"
LEFTOVER_CHOICES = (LEFTOVER_CREDIT, LEFTOVER_REFUND)


def sessions_per_unit(service) -> Decimal:
    """How many sessions one unit of a charge bills: one, or for a monthly service
    (billed by the month) its sessions a month."""

    if service.billing_basis == Service.BillingBasis.MONTHLY:
        return Decimal(service.sessions_per_month or 1)
    return Decimal(1)


def line_sessions(line, service) -> Decimal:
    """How many sessions a charge line bills."""
    return line.quantity * sessions_per_unit(service)


@dataclass(frozen=True)
class MovedShare:
    """What one invoice billed for sessions of one subscription or booking that
    moved to another payer: how many, and their value as billed (the line's own
    price, less the invoice's discounts pro rata), at the currency's precision."""

    invoice: Invoice
    sessions: Decimal
    value: Decimal
    subscription: Any = None  # a Subscription carrying next_date, or None
    booking: Booking | None = None
    dates: tuple = ()  # the session dates moved, where the lines record them


def _discounted(invoice_ids) -> dict[int, Any]:
    """The invoices with ``paid_amount``, ``balance``, ``charges``, ``discounts``
    and ``carried_credits``: credits not tied to a subscription or booking (a
    transfer's unused value), that is money the payer had paid before, elsewhere."""

    def line_sum(kind, **only):
        return Coalesce(
            Subquery(
                InvoiceLine.objects.filter(invoice_id=OuterRef("pk"), kind=kind, **only)
                .order_by()
                .values("invoice_id")
                .annotate(s=Sum("amount"))
                .values("s"),
                output_field=MONEY,
            ),
            Value(Decimal(0)),
            output_field=MONEY,
        )

    invoices = with_balance(Invoice.objects.filter(pk__in=invoice_ids)).annotate(
        charges=line_sum(InvoiceLine.Kind.CHARGE),
        discounts=line_sum(InvoiceLine.Kind.DISCOUNT),
        carried_credits=line_sum(
            InvoiceLine.Kind.CREDIT, subscription__isnull=True, booking__isnull=True
        ),
    )
    return {invoice.pk: invoice for invoice in invoices}


BILLED = [Invoice.Status.DRAFT, Invoice.Status.OPEN, Invoice.Status.PAID, Invoice.Status.CLOSED]


def billed_sessions(*, subscriptions, bookings=(), statuses=BILLED) -> list[MovedShare]:
    """What the payer was billed, on invoices in ``statuses`` (by default every one
    that bills: a void invoice billed nothing, a closed one billed and expects no
    more), for the sessions of each subscription from its cut-over date on, and for
    each booking: the one answer for the transfer and the rebooking. Three queries.

    ``subscriptions`` carry their session and service, and either ``billed_from``
    (the first date no longer theirs: a transfer's end date) or ``next_date`` (a
    rebooking's cut-over), and ``dates_before`` (the sessions they used: see
    ``scheduling.selectors.count_dates_before``); each is given ``billed``, the
    sessions billed to it in all.

    A charge line says which session dates it counts (``ChargedDate``): those from
    the cut-over date on are what moves, each valued at its line's price per date
    less the invoice's discounts pro rata (what the payer was asked for, not the
    list price). A line written before lines recorded their dates (a hand-made
    charge) falls back to the old reading: billed sessions are used up in date
    order, those beyond the used ones taken from the newest invoice back."""
    subscriptions = {s.pk: s for s in subscriptions}
    bookings = {b.pk: b for b in bookings}
    if not subscriptions and not bookings:
        return []
    lines = list(
        InvoiceLine.objects.filter(
            Q(subscription_id__in=list(subscriptions)) | Q(booking_id__in=list(bookings)),
            kind=InvoiceLine.Kind.CHARGE,
            invoice__status__in=list(statuses),
        )
        .select_related("invoice")
        .order_by(F("invoice__issued_on").asc(nulls_last=True), "invoice_id", "pk")
    )
    if not lines:
        return []
    covered: dict[int, list[date]] = {}
    for line_id, day in ChargedDate.objects.filter(
        line_id__in=[line.pk for line in lines], live=True
    ).values_list("line_id", "date"):
        covered.setdefault(line_id, []).append(day)
    invoices = _discounted({line.invoice_id for line in lines})
    shares: dict[tuple, MovedShare] = {}

    def take(line, sessions: Decimal, in_line: Decimal, subscription=None, booking=None, days=()):
        invoice = invoices[line.invoice_id]
        value = Decimal(0)
        if invoice.charges and in_line:  # the line's price for these, less discounts pro rata
            net = invoice.charges - invoice.discounts
            value = round_money(
                line.amount * sessions * net / (in_line * invoice.charges), invoice.currency
            )
        key = (invoice.pk, getattr(subscription, "pk", None), getattr(booking, "pk", None))
        before = shares.get(key)
        if before is not None:
            sessions, value = before.sessions + sessions, before.value + value
            days = (*before.dates, *days)
        shares[key] = MovedShare(invoice, sessions, value, subscription, booking, tuple(days))

    for subscription in subscriptions.values():
        service = subscription.session.service
        own = [line for line in lines if line.subscription_id == subscription.pk]
        cut = getattr(subscription, "billed_from", None) or getattr(subscription, "next_date", None)
        if cut is not None and own and all(line.pk in covered for line in own):
            # the facts: each line's dates from the cut-over on
            subscription.billed = Decimal(sum(len(covered[line.pk]) for line in own))
            for line in own:
                moved = sorted(day for day in covered[line.pk] if day >= cut)
                if moved:
                    in_line = Decimal(len(covered[line.pk]))
                    take(line, Decimal(len(moved)), in_line, subscription=subscription, days=moved)
            continue
        billed = sum((line_sessions(line, service) for line in own), Decimal(0))
        subscription.billed = billed
        left = max(billed - subscription.dates_before, Decimal(0))
        for line in reversed(own):
            if left <= 0:
                break
            in_line = line_sessions(line, service)
            sessions = min(left, in_line)
            left -= sessions
            take(line, sessions, in_line, subscription=subscription)
    for line in lines:
        if line.booking_id in bookings:
            take(line, line.quantity, line.quantity, booking=bookings[line.booking_id])
    return list(shares.values())


@dataclass
class Unused:
    """What the old subscription leaves unused after its end date: sessions paid
    for (on paid invoices) and not attended, and their value."""

    paid_sessions: Decimal
    attended: int
    sessions: Decimal
    value: Decimal
    currency: str
    credited: Decimal = Decimal(0)

    @property
    def left_over(self) -> Decimal:
        """Unused value the credit line could not absorb (the invoice is at zero)."""
        return self.value - self.credited if self.credited else Decimal(0)


def unused_value(subscription: Subscription, end_date: date) -> Unused:
    """What the subscription leaves paid for and not attended from ``end_date``:
    the sessions on its paid invoices beyond those attended before that date
    (cancelled dates and single-date absences are not attended), valued as
    ``billed_sessions`` values them. A discounted session is worth what was paid
    for it: crediting the list price would pay back a discount as money."""
    attended = (
        Subscription.objects.filter(pk=subscription.pk)
        .annotate(attended=count_dates_before(end_date, skip_absences=True))
        .values_list("attended", flat=True)
        .get()
    )
    counted: Any = copy(subscription)
    counted.dates_before = attended
    counted.billed_from = end_date
    counted.billed = Decimal(0)
    shares = billed_sessions(subscriptions=[counted], statuses=[Invoice.Status.PAID])
    return Unused(
        paid_sessions=counted.billed,
        attended=attended,
        sessions=sum((share.sessions for share in shares), Decimal(0)),
        value=sum((share.value for share in shares), Decimal(0)),
        currency=subscription.currency,
    )


# --- what moving them means for the old payer's money ------------------------------------------
REBOOK_CREDIT_REASON = "Sessions rebooked under the attendee's first-party relationship"


@dataclass(frozen=True)
class Credit:
    """A credit line to add to an open invoice of the old payer."""

    share: MovedShare
    amount: Decimal
    description: str


@dataclass(frozen=True)
class InvoiceMoneyBack:
    """One invoice of the old payer that billed moved sessions: what is credited on
    it (while it is open) and what was already paid for them (to be refunded)."""

    invoice: Any  # an Invoice with its balance (selectors.with_balance)
    value: Decimal
    credits: list[Credit]
    refund: Decimal  # paid for them: kept as account credit, or refunded (the user's choice)
    shares: list[MovedShare] = field(default_factory=list)  # per session

    @property
    def returned(self) -> Decimal:
        """What the old payer no longer pays for the moved sessions."""
        return self.credited + self.refund

    @property
    def credited(self) -> Decimal:
        return sum((c.amount for c in self.credits), Decimal(0))

    @property
    def is_draft(self) -> bool:
        return self.invoice.status == Invoice.Status.DRAFT

    @property
    def settles(self) -> bool:
        """The credits clear what was left to pay on an open invoice: it becomes paid."""
        return bool(self.credits) and not self.is_draft and self.credited == self.invoice.balance


@dataclass(frozen=True)
class TakenOver:
    """What the attendee is billed for moved sessions: exactly what the old payer
    no longer pays for them, so that the practice is paid once for each."""

    currency: str
    amount: Decimal
    sessions: Decimal
    from_invoice: Invoice
    subscription: Any = None  # the old one, with next_date (rebooking makes its successor)
    booking: Booking | None = None
    dates: tuple = ()  # the moved session dates, where the old lines recorded them


@dataclass(frozen=True)
class OldPayerMoney:
    """What rebooking a selection means for the old payer, and so for the attendee.
    The panel shows it before the click and the rebook applies it: one function
    computes both."""

    payer: Client | None
    invoices: list = field(default_factory=list)
    attendee: Client | None = None
    leftover: str = LEFTOVER_CREDIT  # what was paid for them: account credit, or refunded

    def taken_over(self) -> list[TakenOver]:
        """Each invoice's returned money shared over its moved sessions by value,
        the last share taking the rounding remainder."""

        taken = []
        for item in self.invoices:
            returned, currency = item.returned, item.invoice.currency
            if returned <= 0 or item.value <= 0:
                continue
            left = returned
            for i, share in enumerate(item.shares):
                last = i == len(item.shares) - 1
                amount = (
                    left if last else round_money(returned * share.value / item.value, currency)
                )
                left -= amount
                if amount > 0:
                    taken.append(
                        TakenOver(
                            currency,
                            amount,
                            share.sessions,
                            item.invoice,
                            share.subscription,
                            share.booking,
                            share.dates,
                        )
                    )
        return taken

    @property
    def billed_to_attendee(self) -> dict[str, Decimal]:
        sums: dict[str, Decimal] = {}
        for item in self.taken_over():
            sums[item.currency] = sums.get(item.currency, Decimal(0)) + item.amount
        return sums

    def _sum(self, attribute: str) -> dict[str, Decimal]:
        sums: dict[str, Decimal] = {}
        for item in self.invoices:
            amount = getattr(item, attribute)
            if amount:
                currency = item.invoice.currency
                sums[currency] = sums.get(currency, Decimal(0)) + amount
        return sums

    @property
    def credited(self) -> dict[str, Decimal]:
        return self._sum("credited")

    @property
    def refund(self) -> dict[str, Decimal]:
        return self._sum("refund")

    def sentences(self, *, done: bool, paid_back: str | None = None) -> list[str]:
        """The preview (``done=False``) and the confirmation say the same things;
        ``paid_back`` is what became of the money already paid, once done."""
        if self.payer is None:
            return []
        name = self.payer.full_name
        said = []
        for item in self.invoices:
            if item.credits:
                verb = "credited" if done else "will be credited"
                settles = (
                    (", which settles it" if not done else ": it is now paid")
                    if item.settles
                    else ""
                )
                which = "draft invoice (not issued yet)" if item.is_draft else "open invoice"
                said.append(
                    f"{_money_text({item.invoice.currency: item.credited})} {verb} on "
                    f"{name}'s {which} {item.invoice.display_number}{settles}."
                )
        refund = self.refund
        if refund and paid_back is not None:
            said.append(paid_back)
        elif refund:
            numbers = ", ".join(i.invoice.display_number for i in self.invoices if i.refund)
            if self.leftover == LEFTOVER_REFUND:
                what = "is refunded to them" if done else "will be refunded to them"
            else:
                what = (
                    "is kept as account credit for their next invoices"
                    if done
                    else "will be kept as account credit for their next invoices"
                )
            said.append(
                f"{_money_text(refund)} paid by {name} for moved sessions {what} ({numbers})."
            )
        if not said:
            said.append(
                f"Nothing was billed to {name} for these sessions: nothing to credit or refund."
            )
        billed = self.billed_to_attendee
        if billed and self.attendee is not None:
            verb = "is invoiced" if done else "will be invoiced"
            said.append(f"{self.attendee.full_name} {verb} {_money_text(billed)} for them instead.")
        return said


def _money_text(sums: dict[str, Decimal]) -> str:

    return " and ".join(format_money(amount, currency) for currency, amount in sums.items())


def sessions_text(count: Decimal) -> str:
    number = f"{count.normalize():f}"
    return f"{number} session" if count == 1 else f"{number} sessions"


def _credit_description(share, attendee: Client) -> str:
    if share.subscription is not None:
        subscription = share.subscription
        return (
            f"Credit: {sessions_text(share.sessions)} of {subscription.session.service.name} "
            f"moved to {attendee.full_name}'s own account from "
            f"{subscription.next_date:%-d %b %Y}"
        )
    session_date = share.booking.session_date
    return (
        f"Credit: {session_date.session.service.name} on {session_date.date:%a %-d %b %Y} "
        f"moved to {attendee.full_name}'s own account"
    )


def old_payer_money(
    *, old: Relationship | None, subscriptions, bookings, leftover: str = LEFTOVER_CREDIT
) -> OldPayerMoney:
    """For the chosen subscriptions (annotated by ``frontdesk.selectors.with_coming_dates``) and
    bookings under ``old``: what the old payer was billed for the moved sessions
    (``billed_sessions``), and what becomes of it.

    - open invoice: the moved value is credited on it, up to its balance (a
      credit line; at zero balance it is paid, per billing's rules);
    - what was already paid for them (on a paid or closed invoice, or the part of
      an open invoice's payments the balance cannot absorb) goes back to the payer:
      kept as account credit or refunded, as the user chooses (``leftover``; the
      rebooking writes it); never more than the invoice was settled with (payments,
      and credits carried in from a transfer's unused value);
    - a draft is credited the same way, so that issuing it later charges nothing
      for them; a void invoice billed nothing.
    """

    if old is None:
        return OldPayerMoney(None)
    shares = billed_sessions(subscriptions=subscriptions, bookings=bookings)
    by_invoice: dict[int, list] = {}
    for share in shares:
        by_invoice.setdefault(share.invoice.pk, []).append(share)
    invoices = []
    for invoice_shares in by_invoice.values():
        invoice = invoice_shares[0].invoice
        value = sum((share.value for share in invoice_shares), Decimal(0))
        credits = []
        left = {
            Invoice.Status.OPEN: invoice.balance,
            Invoice.Status.DRAFT: invoice.total,  # nothing is paid on a draft
        }.get(invoice.status, Decimal(0))
        for share in invoice_shares:
            amount = min(share.value, left)
            if amount > 0:
                left -= amount
                credits.append(Credit(share, amount, _credit_description(share, old.attendee)))
        credited = sum((credit.amount for credit in credits), Decimal(0))
        # the moved sessions are the unpaid part first: on an open invoice that is
        # the balance (credited above); on a closed one the rest the practice waived
        waived = (
            max(invoice.total - invoice.paid_amount, Decimal(0))
            if invoice.status == Invoice.Status.CLOSED
            else Decimal(0)
        )
        # then what it was settled with comes back: payments, and credits carried in
        # from money paid before (a transfer's unused value)
        unpaid_moved = credited + min(value - credited, waived)
        refund = min(value - unpaid_moved, invoice.paid_amount + invoice.carried_credits)
        if credits or refund > 0:
            invoices.append(InvoiceMoneyBack(invoice, value, credits, refund, invoice_shares))
    return OldPayerMoney(old.payer, invoices, old.attendee, leftover)
