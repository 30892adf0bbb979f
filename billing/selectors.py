"""Reads worth a name: balances, cards on file, the invoice list, the card panel."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import (
    Case,
    DecimalField,
    Exists,
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
    Account,
    AccountEntry,
    AutopayPlan,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    PaymentCardRequest,
    PaymentConfirmation,
    PaymentMethod,
)
from billing.permissions import can_manage_billing, can_request_card
from billing.tokens import hash_token, looks_like_token
from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS
from opus.lib.parsing import ascii_digits

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


# What else an invoice is about, told by the apps above billing that tie an invoice
# to a session (the front desk: the session a transfer it settles moved the client
# out of). Each source takes an invoice id and returns practitioner ids.
_invoice_practitioner_sources: list[Callable[[int], Iterable[int]]] = []


def register_invoice_practitioners(source: Callable[[int], Iterable[int]]) -> None:
    if source not in _invoice_practitioner_sources:
        _invoice_practitioner_sources.append(source)


def invoice_practitioners(invoice: Invoice) -> set[int]:
    """The ids of the practitioners whose sessions ``invoice`` is about: those its
    lines bill or credit, and those the registered sources name (the rule
    ``Invoice.objects.visible_to`` keeps). A query per source."""
    from_lines = (
        InvoiceLine.objects.filter(invoice_id=invoice.pk)
        .annotate(about=LINE_PRACTITIONER)
        .filter(about__isnull=False)
        .values_list("about", flat=True)
    )
    about = set(from_lines)
    for source in _invoice_practitioner_sources:
        about.update(source(invoice.pk))
    return about


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
    follow_up: bool = False


def needs_follow_up() -> Q:
    """Open invoices whose autopay gave up after the last retry: staff's to chase."""
    return Q(status=Invoice.Status.OPEN, autopay__follow_up_at__isnull=False)


def invoice_list(user, filters: InvoiceFilters, *, today: date | None = None) -> QuerySet:
    """The invoices ``user`` may see, filtered, with balances, newest number first
    (drafts, which have none, come first)."""
    today = today or timezone.localdate()
    invoices = Invoice.objects.visible_to(user)
    if filters.status:
        invoices = invoices.filter(status=filters.status)
    if filters.overdue:
        invoices = invoices.filter(status=Invoice.Status.OPEN, due_on__lt=today)
    if filters.follow_up:
        invoices = invoices.filter(needs_follow_up())
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
    follow_up = Exists(
        AutopayPlan.objects.filter(invoice_id=OuterRef("pk"), follow_up_at__isnull=False)
    )
    invoices = invoices.annotate(follow_up=follow_up)
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


def confirmation_of_request(*, invoice: Invoice, request_key: str):
    """The payment confirmation of the charge a page's submission started, if its
    bank asks the payer to confirm it."""
    return PaymentConfirmation.objects.filter(
        attempt__invoice=invoice, attempt__request_key=request_key
    ).first()


def confirmation_for_token(token: str):
    """The payment confirmation a link token belongs to, whatever its state."""
    if not looks_like_token(token):
        return None
    return (
        PaymentConfirmation.objects.select_related(
            "attempt__invoice__payer", "attempt__payment_method"
        )
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
        "can_set_autopay": can_manage_billing(user),
    }


# --- what a payer was billed for sessions moved away from them --------------------------------


# --- the payer's account ------------------------------------------------------------------

ACCOUNT_ENTRIES_SHOWN = 10


def account_balance(payer, currency: str) -> Decimal:
    """The payer's account credit in ``currency`` (zero when they have no account)."""
    account = Account.objects.filter(payer_id=payer.pk, currency=currency).first()
    return account.balance if account else Decimal(0)


def account_panel_context(client, user) -> dict:
    """What ``templates/billing/_account_panel.html`` needs, as ``account``: the
    client's balances (one per currency they have credit in) and latest entries,
    and whether ``user`` may add or apply credit (staff). Two queries."""
    return {
        "client": client,
        "balances": list(Account.objects.filter(payer_id=client.pk).order_by("currency")),
        "entries": list(
            AccountEntry.objects.filter(account__payer_id=client.pk)
            .select_related("account", "invoice")
            .order_by("-created_at", "-pk")[:ACCOUNT_ENTRIES_SHOWN]
        ),
        "can_manage": can_manage_billing(user),
    }
