"""The monthly billing run: what a calendar month bills, prepared as one draft per
payer (and currency) waiting for approval, then issued through ``issue_invoice``.

What a month bills (``plan_month``, which writes nothing):

- a per-session service bills the subscription's held dates of the month:
  cancelled dates never; a date the client was marked for (``Attendance``) as its
  mark was charged by the cancellation policy (``Attendance.chargeable``); a date
  the client was unenrolled from alone (``DateAbsence``) not when told in time, and
  when late as the service's policy says of late cancellations; any other date is
  billed (absences nobody recorded are billed);
- a monthly service bills its flat price; a month the subscription covers only in
  part (its first or last, or a month a transfer's first invoice already billed
  in part) is prorated by held dates over the month's held dates, and the line
  says so;
- a one-off booking of the month not billed yet (a booking is invoiced when it is
  made; one made otherwise, e.g. imported, is caught here) bills its price;
- each date goes to the payer of the subscription's (or booking's) relationship:
  a migration to first party rebooks the coming dates under the new relationship
  and a transfer ends one subscription and starts another, so a month they cut
  in two is split between the two payers or subscriptions by date;
- a date already charged (``ChargedDate``, live) is skipped. The database holds
  "at most one live charge per (subscription, session date) and per booking", so
  running twice, from two workers at once, or after a transfer's first invoice
  billed part of the month, bills nothing twice.

Queries do not grow with the practice: a fixed number to plan a month, three
to write its drafts. Issuing is one ``issue_invoice`` per draft (numbers are
taken one by one, each in its own transaction) in the background task.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from billing import tasks
from billing.models import Account, BillingRun, ChargedDate, Invoice, InvoiceLine, PaymentMethod
from billing.permissions import require_billing_actor
from billing.plans import InvoicePlan
from billing.services.accounts import apply_credits_oldest_first
from billing.services.invoices import issue_invoice, send_invoice
from clients.models import Client
from opus import practice as practices
from opus.lib.actors import SYSTEM, person
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money, round_money
from opus.models import Practice
from scheduling.models import Attendance, Booking, DateAbsence, Service, SessionDate, Subscription
from scheduling.policy import Policy, policy_for

logger = logging.getLogger(__name__)

# a payer's total that moved by more than this share since last month's run is flagged
CHANGE_THRESHOLD = Decimal("0.20")


# --- periods ---------------------------------------------------------------------------------
def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(start: date) -> date:
    days = calendar.monthrange(start.year, start.month)[1]
    return start.replace(day=1) + timedelta(days=days)


def previous_month(start: date) -> date:
    return (start.replace(day=1) - timedelta(days=1)).replace(day=1)


def coming_period(today: date, practice: Practice | None = None) -> date:
    """The month the next run bills: in advance, the month after ``today``'s; in
    arrears, the month before it (the run on the billing day bills the month that
    has ended)."""
    practice = practice or practices.current()
    if practice.billing_timing == Practice.BillingTiming.ARREARS:
        return previous_month(today)
    return next_month(today)


def parse_month(value: str | None) -> date | None:
    """``2026-12`` as the month's first day; None when it is not a month."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        if 2000 <= year <= 2200:
            return date(year, month, 1)
    except ValueError:
        pass
    return None


# --- what a month bills ---------------------------------------------------------------------
@dataclass
class PayerDraft:
    """One payer's invoice of the month in one currency: planned, or prepared (the
    draft ``invoice`` in the database)."""

    payer: Client
    currency: str
    plan: InvoicePlan
    relationship_ids: set = field(default_factory=set)
    invoice: Invoice | None = None
    last_total: Decimal | None = None
    account_credit: Decimal = Decimal(0)  # the payer's credit, applied when issued
    autopay_without_card: bool = False

    @property
    def lines(self):
        return self.plan.lines

    @property
    def total(self) -> Decimal:
        return self.plan.totals["total"]

    @property
    def flags(self) -> list[str]:
        """What is worth a look before money moves."""
        said = []
        if self.total == 0:
            said.append("Nothing to pay: the invoice is for zero.")
        last = self.last_total
        if last is not None and last > 0:
            change = (self.total - last) / last
            if abs(change) > CHANGE_THRESHOLD:
                direction = "up" if change > 0 else "down"
                said.append(
                    f"Total {direction} {abs(change) * 100:.0f}% since last month's run "
                    f"({format_money(last, self.currency)})."
                )
        if self.account_credit > 0 and self.total > 0:
            applied = min(self.account_credit, self.total)
            said.append(
                f"Account credit: {format_money(applied, self.currency)} is applied when the "
                "invoice is issued."
            )
        if self.autopay_without_card and self.total > self.account_credit:
            said.append(
                "Autopay is on but the card on file has expired or was removed: the invoice "
                "is emailed with its pay link instead."
            )
        return said


def _span(days: list[date]) -> str:
    if len(days) == 1:
        return f"{days[0]:%-d %b %Y}"
    return f"{days[0]:%-d %b} to {days[-1]:%-d %b %Y}"


def _sessions(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


def _who(subscription_or_booking) -> str:
    """The attendee, named when someone else pays."""
    client = subscription_or_booking.client
    if client.pk != subscription_or_booking.relationship.payer_id:
        return f" for {client.full_name}"
    return ""


def plan_month(period_start: date) -> list[PayerDraft]:
    """What the month from ``period_start`` bills that is not billed yet, one draft
    per payer and currency (the module's docstring gives the rules). Writes
    nothing; seven queries whatever the practice's size."""
    start, end = month_start(period_start), next_month(period_start)
    subscriptions = list(
        Subscription.objects.filter(first_date__lt=end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=start))
        .select_related("session__service", "relationship__payer", "client")
        .order_by("pk")
    )
    sub_ids = [s.pk for s in subscriptions]
    by_session: dict[int, list[SessionDate]] = {}
    for session_date in SessionDate.objects.filter(
        session_id__in={s.session_id for s in subscriptions}, date__gte=start, date__lt=end
    ).order_by("date"):
        by_session.setdefault(session_date.session_id, []).append(session_date)
    in_month = {"session_date__date__gte": start, "session_date__date__lt": end}
    absences = dict(
        ((sub, sd), in_time)
        for sub, sd, in_time in DateAbsence.objects.filter(
            subscription_id__in=sub_ids, **in_month
        ).values_list("subscription_id", "session_date_id", "in_time")
    )
    marks = dict(
        ((sub, sd), chargeable)
        for sub, sd, chargeable in Attendance.objects.filter(
            subscription_id__in=sub_ids, **in_month
        ).values_list("subscription_id", "session_date_id", "chargeable")
    )
    charged = set(
        ChargedDate.objects.filter(
            live=True, subscription_id__in=sub_ids, date__gte=start, date__lt=end
        ).values_list("subscription_id", "session_date_id")
    )
    bookings = list(
        Booking.objects.filter(
            status=Booking.Status.BOOKED,
            session_date__date__gte=start,
            session_date__date__lt=end,
            session_date__cancelled=False,
        )
        .exclude(Exists(ChargedDate.objects.filter(booking_id=OuterRef("pk"), live=True)))
        .select_related("session_date__session__service", "relationship__payer", "client")
        .order_by("session_date__date", "pk")
    )
    drafts: dict[tuple[int, str], PayerDraft] = {}

    def draft_for(payer, currency: str, relationship_id: int) -> PayerDraft:
        key = (payer.pk, currency)
        if key not in drafts:
            drafts[key] = PayerDraft(payer, currency, InvoicePlan(currency=currency))
        drafts[key].relationship_ids.add(relationship_id)
        return drafts[key]

    policies: dict[int, Policy] = {}
    for subscription in subscriptions:
        service = subscription.session.service
        held = [d for d in by_session.get(subscription.session_id, []) if not d.cancelled]
        covered = [d for d in held if subscription.is_active_on(d.date)]
        open_dates = [d for d in covered if (subscription.pk, d.pk) not in charged]
        if not open_dates:
            continue
        payer = subscription.relationship.payer
        plan = draft_for(payer, subscription.currency, subscription.relationship_id).plan
        who = _who(subscription)
        if service.billing_basis == Service.BillingBasis.MONTHLY:
            month = f"{start:%B %Y}"
            if len(open_dates) == len(held):
                plan.charge(
                    description=f"{service.name}{who}: {month} "
                    f"({service.sessions_per_month} sessions a month)",
                    unit_price=subscription.price,
                    subscription=subscription,
                    dates=open_dates,
                )
            else:
                amount = round_money(
                    subscription.price * len(open_dates) / len(held), subscription.currency
                )
                plan.charge(
                    description=f"{service.name}{who}: {month}, {len(open_dates)} of "
                    f"{_sessions(len(held))} (prorated: "
                    f"{format_money(subscription.price, subscription.currency)} "
                    f"x {len(open_dates)}/{len(held)})",
                    unit_price=amount,
                    subscription=subscription,
                    dates=open_dates,
                )
            continue
        if service.pk not in policies:
            policies[service.pk] = policy_for(service)
        policy = policies[service.pk]
        billed = []
        for d in open_dates:
            key = (subscription.pk, d.pk)
            if key in marks:
                if marks[key]:
                    billed.append(d)
            elif key in absences:
                if not absences[key] and policy.charge_late_cancellations:
                    billed.append(d)
            else:
                billed.append(d)
        if not billed:
            continue
        plan.charge(
            description=f"{service.name}{who}: {_sessions(len(billed))}, "
            f"{_span([d.date for d in billed])}",
            unit_price=subscription.price,
            quantity=Decimal(len(billed)),
            subscription=subscription,
            dates=billed,
        )
    for booking in bookings:
        session_date = booking.session_date
        plan = draft_for(booking.relationship.payer, booking.currency, booking.relationship_id).plan
        plan.charge(
            description=f"{session_date.session.service.name}{_who(booking)}, "
            f"{session_date.date:%a %-d %b %Y}",
            unit_price=booking.price,
            booking=booking,
            dates=[session_date],
        )
    result = sorted(
        drafts.values(), key=lambda d: (d.payer.last_name, d.payer.first_name, d.payer.pk)
    )
    _last_totals(result, previous_month(start))
    _payer_facts(result)
    return result


def _last_totals(drafts: list[PayerDraft], last_period: date) -> None:
    """Each draft's payer's total on last month's run (one query)."""
    totals = {
        (row["payer_id"], row["currency"]): row["total"]
        for row in Invoice.objects.filter(billing_runs__period_start=last_period)
        .exclude(status=Invoice.Status.VOID)
        .values("payer_id", "currency")
        .annotate(total=Sum("total"))
    }
    for draft in drafts:
        draft.last_total = totals.get((draft.payer.pk, draft.currency))


def run_drafts(run: BillingRun) -> list[PayerDraft]:
    """A prepared run's drafts as they stand in the database (four queries)."""
    invoices = list(
        run.invoices.select_related("payer")
        .prefetch_related("lines")
        .order_by("payer__last_name", "payer__first_name", "payer_id", "pk")
    )
    drafts = []
    for invoice in invoices:
        drafts.append(
            PayerDraft(
                invoice.payer,
                invoice.currency,
                InvoicePlan(currency=invoice.currency, lines=list(invoice.lines.all())),
                {invoice.relationship_id},
                invoice=invoice,
            )
        )
    _last_totals(drafts, previous_month(run.period_start))
    _payer_facts(drafts)
    return drafts


def _payer_facts(drafts: list[PayerDraft]) -> None:
    """Each payer's account credit, and whether autopay will miss a card the payer
    had (expired or removed): three queries."""
    payer_ids = {draft.payer.pk for draft in drafts}
    if not payer_ids:
        return
    credit = {
        (payer_id, currency): balance
        for payer_id, currency, balance in Account.objects.filter(
            payer_id__in=payer_ids, balance__gt=0
        ).values_list("payer_id", "currency", "balance")
    }
    with_card = set(
        PaymentMethod.objects.usable()
        .filter(client_id__in=payer_ids)
        .values_list("client_id", flat=True)
    )
    had_card = set(
        PaymentMethod.objects.filter(client_id__in=payer_ids).values_list("client_id", flat=True)
    )
    autopay = practices.current().autopay_enabled
    for draft in drafts:
        draft.account_credit = credit.get((draft.payer.pk, draft.currency), Decimal(0))
        payer_id = draft.payer.pk
        draft.autopay_without_card = (
            autopay and draft.payer.autopay and payer_id in had_card and payer_id not in with_card
        )


def totals_by_currency(drafts: list[PayerDraft]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for draft in drafts:
        sums[draft.currency] = sums.get(draft.currency, Decimal(0)) + draft.total
    return sums


# --- preparing, approving, issuing -----------------------------------------------------------
def _locked_run(period_start: date) -> BillingRun:
    start = month_start(period_start)
    BillingRun.objects.get_or_create(period_start=start, defaults={"period_end": next_month(start)})
    return BillingRun.objects.select_for_update().get(period_start=start)


def _write_drafts(run: BillingRun, drafts: list[PayerDraft], *, actor) -> None:
    """The planned drafts as draft invoices of the run: three bulk inserts and the
    run's links. A date charged meanwhile breaks ``charged_date_once_per_*``."""
    if not drafts:
        return
    invoices = Invoice.objects.bulk_create(
        [
            Invoice(
                payer=draft.payer,
                relationship_id=(
                    next(iter(draft.relationship_ids)) if len(draft.relationship_ids) == 1 else None
                ),
                currency=draft.currency,
                total=draft.total,
                created_by=person(actor),
            )
            for draft in drafts
        ]
    )
    lines = []
    for invoice, draft in zip(invoices, drafts, strict=True):
        draft.invoice = invoice
        for line in draft.lines:
            line.invoice = invoice
            lines.append(line)
    InvoiceLine.objects.bulk_create(lines)
    ChargedDate.objects.bulk_create(
        [
            ChargedDate(
                line=line,
                subscription_id=line.subscription_id,
                booking_id=line.booking_id,
                session_date=session_date,
                date=session_date.date,
            )
            for line in lines
            for session_date in getattr(line, "covers", ())
        ]
    )
    run.invoices.add(*invoices)


def prepare_run(*, period_start: date, actor) -> BillingRun:
    """Prepare the month's run: the drafts of what it bills that no invoice bills
    yet. Again on a prepared run, it adds only what is new (a subscription made
    since); on an approved one it changes nothing. Two at once: the run's row is
    locked, the second plans after the first commits and finds nothing more; and
    were a date charged by anything else meanwhile, the database refuses the
    second charge and the run is planned again."""
    require_billing_actor(actor)
    for attempt in range(2):
        try:
            with transaction.atomic():
                run = _locked_run(period_start)
                if run.status == BillingRun.Status.PREPARED:
                    _write_drafts(run, plan_month(run.period_start), actor=actor)
                return run
        except IntegrityError:
            if attempt:
                raise
            logger.info("billing run: a date was charged meanwhile; planning again")
    raise AssertionError("unreachable")


def approve_run(*, period_start: date, actor) -> BillingRun:
    """ "Approve": the run's drafts (prepared now if they were not) are issued by
    the background task, which reports its progress on the run. Approving twice
    does one thing: an approved run is returned as it is."""
    require_billing_actor(actor)
    with transaction.atomic():
        run = _locked_run(period_start)
        if run.status != BillingRun.Status.PREPARED:
            return run
        _write_drafts(run, plan_month(run.period_start), actor=actor)  # anything new
        run.status = BillingRun.Status.ISSUING
        run.approved_at = timezone.now()
        run.approved_by = person(actor)
        run.to_issue = run.invoices.filter(status=Invoice.Status.DRAFT).count()
        run.save()
        tasks.issue_billing_run.delay_on_commit(run.pk)
    return run


def issue_run(*, run_id: int, actor) -> BillingRun:
    """Issue an approved run's drafts, one by one through ``issue_invoice`` (each in
    its own transaction, so a worker killed halfway leaves the rest to the task's
    next delivery), email each open one to its payer, and write the summary.
    Redelivered, it issues only the drafts left."""
    require_billing_actor(actor)
    run = BillingRun.objects.get(pk=run_id)
    if run.status != BillingRun.Status.ISSUING:
        return run
    issuer = run.approved_by or actor
    drafts = run.invoices.filter(status=Invoice.Status.DRAFT)
    with_credit = set(
        Account.objects.filter(balance__gt=0, payer_id__in=drafts.values("payer_id")).values_list(
            "payer_id", "currency"
        )
    )
    for invoice in drafts.select_related("payer").order_by("pk"):
        try:
            with transaction.atomic():
                if (invoice.payer_id, invoice.currency) in with_credit:
                    apply_credits_oldest_first(
                        payer=invoice.payer, invoices=[invoice], actor=issuer
                    )
                    invoice.refresh_from_db()
                issued = issue_invoice(invoice=invoice, actor=issuer)
                if issued.status == Invoice.Status.OPEN:
                    send_invoice(invoice=issued, actor=issuer)
                BillingRun.objects.filter(pk=run.pk).update(issued_count=F("issued_count") + 1)
        except BusinessRuleError as error:  # changed by hand meanwhile: left as it is
            logger.warning("billing run %s: invoice %s not issued: %s", run.pk, invoice.pk, error)
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run.pk)
        if run.status != BillingRun.Status.ISSUING:
            return run
        done = run.invoices.exclude(status=Invoice.Status.DRAFT)
        sums = {
            row["currency"]: row["total"]
            for row in done.values("currency").annotate(total=Sum("total")).order_by("currency")
        }
        count = done.count()
        money = " and ".join(format_money(total, currency) for currency, total in sums.items())
        run.summary = (
            f"{count} invoice{'s' if count != 1 else ''} issued"
            + (f", {money} in all" if money else "")
            + f"; {run.invoices.filter(status=Invoice.Status.OPEN).count()} open, "
            f"{run.invoices.filter(status=Invoice.Status.PAID).count()} paid (nothing due)."
        )
        run.status = BillingRun.Status.ISSUED
        run.finished_at = timezone.now()
        run.save()
    return run


def prepare_if_due(*, today: date | None = None) -> BillingRun | None:
    """The periodic task's work: on the practice's billing day, prepare the coming
    run (and approve it when the practice approves automatically)."""
    today = today or timezone.localdate()
    practice = practices.current()
    if today.day != practice.billing_day:
        return None
    period = coming_period(today, practice)
    run = prepare_run(period_start=period, actor=SYSTEM)
    if practice.billing_auto_approve:
        run = approve_run(period_start=period, actor=SYSTEM)
    return run
