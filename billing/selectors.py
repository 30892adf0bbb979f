"""Reads worth a name: balances, cards on file, the invoice list, the card panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from billing.models import (
    LINE_PRACTITIONER,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    PaymentCardRequest,
    PaymentMethod,
)
from billing.tokens import hash_token, looks_like_token
from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS, round_money
from opus.lib.parsing import ascii_digits
from scheduling.models import Transfer

MONEY = DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)


def with_balance(invoices: QuerySet) -> QuerySet:
    """Annotate ``paid_amount`` (sum of payments) and ``balance`` (what is still
    expected: the total less payments on an open invoice, nothing otherwise)."""
    paid = (
        Payment.objects.filter(invoice_id=OuterRef("pk"))
        .order_by()
        .values("invoice_id")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return invoices.annotate(
        paid_amount=Coalesce(
            Subquery(paid, output_field=MONEY), Value(Decimal(0)), output_field=MONEY
        )
    ).annotate(
        balance=Case(
            When(
                status=Invoice.Status.OPEN,
                then=ExpressionWrapper(F("total") - F("paid_amount"), output_field=MONEY),
            ),
            default=Value(Decimal(0)),
            output_field=MONEY,
        )
    )


def amount_paid(invoice: Invoice) -> Decimal:
    annotated = getattr(invoice, "paid_amount", None)
    if annotated is not None:
        return annotated
    return invoice.payments.aggregate(s=Sum("amount"))["s"] or Decimal(0)


def balance_due(invoice: Invoice) -> Decimal:
    """What the payer still owes: the total less payments while the invoice is
    open; nothing for a draft (not issued yet), or a paid, void or closed one."""
    if invoice.status != Invoice.Status.OPEN:
        return Decimal(0)
    annotated = getattr(invoice, "balance", None)
    if annotated is not None:
        return annotated
    return invoice.total - amount_paid(invoice)


def attempt_for(*, request_key: str) -> PaymentAttempt | None:
    """The card charge a submission (a page's form, a transfer) started, if any."""
    return (
        PaymentAttempt.objects.select_related("payment_method", "payment")
        .filter(request_key=request_key)
        .first()
    )


def is_overdue(invoice: Invoice, today: date | None = None) -> bool:
    today = today or timezone.localdate()
    return (
        invoice.status == Invoice.Status.OPEN
        and invoice.due_on is not None
        and invoice.due_on < today
    )


def invoice_practitioners(invoice: Invoice) -> set[int]:
    """The ids of the practitioners whose sessions ``invoice`` is about: those its
    lines bill or credit, and the one a transfer it settles moved the client from
    (the rule ``Invoice.objects.visible_to`` keeps). Two queries."""
    from_lines = (
        InvoiceLine.objects.filter(invoice_id=invoice.pk)
        .annotate(about=LINE_PRACTITIONER)
        .filter(about__isnull=False)
        .values_list("about", flat=True)
    )
    from_transfers = Transfer.objects.filter(invoice_id=invoice.pk).values_list(
        "from_subscription__session__practitioner_id", flat=True
    )
    return {*from_lines, *from_transfers}


def card_on_file(client) -> PaymentMethod | None:
    """The newest card of the client that is neither removed nor expired."""
    return (
        PaymentMethod.objects.filter(client=client).usable().order_by("-created_at", "-pk").first()
    )


# --- the invoice list ------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFilters:
    status: str = ""
    payer: str = ""
    overdue: bool = False


def invoice_list(user, filters: InvoiceFilters, *, today: date | None = None) -> QuerySet:
    """The invoices ``user`` may see, filtered, with balances, newest number first
    (drafts, which have none, come first)."""
    today = today or timezone.localdate()
    invoices = Invoice.objects.visible_to(user)
    if filters.status:
        invoices = invoices.filter(status=filters.status)
    if filters.overdue:
        invoices = invoices.filter(status=Invoice.Status.OPEN, due_on__lt=today)
    term = " ".join(filters.payer.split())
    if term:
        match = (
            Q(payer__first_name__icontains=term)
            | Q(payer__last_name__icontains=term)
            | Q(payer_full_name__icontains=term)
        )
        number = term.upper().removeprefix("INV-").lstrip("0")
        if ascii_digits(number) and len(number) <= 9:
            match |= Q(number=int(number))
        invoices = invoices.annotate(
            payer_full_name=Concat("payer__first_name", Value(" "), "payer__last_name")
        ).filter(match)
    return with_balance(invoices.select_related("payer")).order_by(
        F("number").desc(nulls_first=True), "-pk"
    )


BILLED = [Invoice.Status.OPEN, Invoice.Status.PAID, Invoice.Status.CLOSED]


def invoice_sums(invoices: QuerySet) -> list[dict]:
    """What a filtered list billed (the totals of its issued invoices that are not
    void: open, paid and closed; a draft bills nothing yet) and its balance due,
    one row per currency, in one query whatever the number of invoices."""
    rows = (
        invoices.order_by()
        .values("currency")
        .annotate(
            total_sum=Coalesce(
                Sum("total", filter=Q(status__in=BILLED)), Value(Decimal(0)), output_field=MONEY
            ),
            balance_sum=Sum("balance"),
        )
        .order_by("currency")
    )
    return [
        {"currency": r["currency"], "total": r["total_sum"], "balance": r["balance_sum"]}
        for r in rows
    ]


# --- card requests -------------------------------------------------------------------------


def card_request_for_token(token: str) -> PaymentCardRequest | None:
    """The request a link token belongs to, whatever its state; None if unknown."""
    if not looks_like_token(token):
        return None
    return (
        PaymentCardRequest.objects.select_related("client")
        .filter(token_hash=hash_token(token))
        .first()
    )


def with_panel_flags(clients):
    """Annotate whether each client ever had a card request, so that the card
    panel can skip looking for the latest one (most clients never had one)."""
    from django.db.models import Exists, OuterRef

    return clients.annotate(
        has_card_requests=Exists(PaymentCardRequest.objects.filter(client_id=OuterRef("pk")))
    )


def latest_card_request(client) -> PaymentCardRequest | None:
    return PaymentCardRequest.objects.filter(client=client).order_by("-created_at", "-pk").first()


def card_panel_context(client, user) -> dict:
    """Everything ``templates/billing/_card_panel.html`` needs, as ``panel``:

    - ``client``: the client;
    - ``cards``: their usable cards, newest first;
    - ``card_request``: their latest card request (or None) and ``state``, one of
      PaymentCardRequest.State (pending, sent, failed, expired, used, superseded);
    - ``can_request``: whether ``user`` may request a card or resend the email
      (staff, and the practitioners who can see the client);
    - ``has_email``: whether the client has an address to send the link to.

    The including view must have fetched ``client`` through
    ``Client.objects.visible_to(user)``. Two queries; one when the client was
    fetched with ``has_card_requests`` annotated False (see ``with_panel_flags``).
    """
    from billing.permissions import can_request_card

    now = timezone.now()
    known_none = getattr(client, "has_card_requests", None) is False
    card_request = None if known_none else latest_card_request(client)
    return {
        "client": client,
        "cards": list(
            PaymentMethod.objects.filter(client=client)
            .usable()
            .only("pk", "brand", "last4", "exp_month", "exp_year", "created_at")
        ),
        "card_request": card_request,
        "state": card_request.state_at(now) if card_request else None,
        "can_request": can_request_card(user, client, visible=True),
        "has_email": bool(client.email),
    }


# --- what a payer was billed for sessions moved away from them --------------------------------


def sessions_per_unit(service) -> Decimal:
    """How many sessions one unit of a charge bills: one, or for a monthly service
    (billed by the month) its sessions a month."""
    from scheduling.models import Service

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
    subscription: object = None
    booking: object = None


def _discounted(invoice_ids) -> dict[int, Invoice]:
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


def billed_for_moved(*, subscriptions, bookings) -> list[MovedShare]:
    """What the payer was billed (drafts, open, paid and closed invoices) for sessions on
    or after each subscription's cut-over, and for each booking. Two queries.

    ``subscriptions`` carry ``next_date`` (the first date moved) and
    ``dates_before`` (their session dates before it, which stay with the payer;
    see ``scheduling.selectors.count_dates_before``), and their session and
    service. As for a transfer's unused value, billed sessions are used up in
    date order: the sessions billed beyond the dates before the cut-over are the
    moved ones, and they are taken from the newest invoice back."""
    subscriptions = {s.pk: s for s in subscriptions}
    bookings = {b.pk: b for b in bookings}
    if not subscriptions and not bookings:
        return []
    lines = list(
        InvoiceLine.objects.filter(
            Q(subscription_id__in=list(subscriptions)) | Q(booking_id__in=list(bookings)),
            kind=InvoiceLine.Kind.CHARGE,
            # a void invoice billed nothing; a closed one billed, and expects no more
            invoice__status__in=[
                Invoice.Status.DRAFT,
                Invoice.Status.OPEN,
                Invoice.Status.PAID,
                Invoice.Status.CLOSED,
            ],
        )
        .select_related("invoice")
        .order_by(F("invoice__issued_on").asc(nulls_last=True), "invoice_id", "pk")
    )
    if not lines:
        return []
    invoices = _discounted({line.invoice_id for line in lines})
    shares: dict[tuple, MovedShare] = {}

    def take(line, sessions: Decimal, in_line: Decimal, subscription=None, booking=None):
        invoice = invoices[line.invoice_id]
        value = Decimal(0)
        if invoice.charges:  # the line's price for these sessions, less discounts pro rata
            net = invoice.charges - invoice.discounts
            value = round_money(
                line.amount * sessions * net / (in_line * invoice.charges), invoice.currency
            )
        key = (invoice.pk, getattr(subscription, "pk", None), getattr(booking, "pk", None))
        before = shares.get(key)
        if before is not None:
            sessions, value = before.sessions + sessions, before.value + value
        shares[key] = MovedShare(invoice, sessions, value, subscription, booking)

    for subscription in subscriptions.values():
        service = subscription.session.service
        own = [line for line in lines if line.subscription_id == subscription.pk]
        billed = sum((line_sessions(line, service) for line in own), Decimal(0))
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
