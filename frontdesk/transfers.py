"""Session transfer: end one subscription, start another in another session,
bill the new one, and record the transfer, together or not at all.

The wizard's steps keep their state in a TransferDraft row. The checkout shows
the invoice from a plan (``billing.plans``) that writes and locks nothing; the
final step makes the same plan under its locks, checks everything again and
saves exactly that, so what the user sees is what is issued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing import selectors as billing_selectors
from billing import services as billing
from billing.models import AccountEntry, Invoice, Payment, PaymentAttempt, Refund
from billing.plans import plan_subscription_invoice
from billing.rebilling import Unused, unused_value
from clients.models import ClientEvent
from clients.services import record_event
from frontdesk.models import Transfer, TransferDraft
from frontdesk.permissions import require_transfer_actor
from opus.lib.dates import refuse_too_far_back
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money
from scheduling.models import DateAbsence, Session, SessionDate, Subscription
from scheduling.services import check_places, lock_places, skip_dates

FINISH_PAY_NOW = "pay_now"
FINISH_PAY_LATER = "pay_later"
FINISH_CLOSE_NOW = "close_now"
FINISHES = {
    FINISH_PAY_NOW: "Enroll and Pay Now",
    FINISH_PAY_LATER: "Enroll and Pay Later",
    FINISH_CLOSE_NOW: "Enroll and Close Now",
}
PAY_BY_CARD = "card"


@dataclass(frozen=True)
class Finish:
    """How the checkout ends. ``method`` is "card" (the payer's card on file) or a
    Payment.Method for a payment recorded by hand."""

    how: str
    method: str = PAY_BY_CARD
    reference: str = ""
    due_on: date | None = None
    close_reason: str = ""


@dataclass
class Outcome:
    transfer: Transfer | None
    invoice: Invoice | None
    lines: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    unused: Unused | None = None
    replayed: bool = False
    attempt: PaymentAttempt | None = None  # paying by card: the charge, settled or not
    charge_error: BusinessRuleError | None = None  # the card declined, or no answer
    # the unused value beyond the new invoice: account credit, and refunded if chosen
    leftover_entry: AccountEntry | None = None
    leftover_refunds: list[Refund] = field(default_factory=list)
    refund_error: BusinessRuleError | None = None

    def leftover_text(self) -> str:
        """What became of the unused value the new invoice could not take."""
        entry = self.leftover_entry
        if entry is None:
            return ""
        currency = entry.account.currency
        going = (Refund.Status.PENDING, Refund.Status.SUCCEEDED)
        refunded = sum((r.amount for r in self.leftover_refunds if r.status in going), Decimal(0))
        if not self.leftover_refunds:
            return (
                f"{format_money(entry.amount, currency)} left unused is kept as account credit "
                "for the next invoices."
            )
        text = f"{format_money(refunded, currency)} left unused is refunded"
        if refunded < entry.amount:
            text += (
                f"; {format_money(entry.amount - refunded, currency)} stays as account credit "
                "(not refunded: see the invoice's payments)"
            )
        return text + "."


class TransferDone(BusinessRuleError):
    """The draft's transfer was made (another tab, a double click): the caller
    shows its result instead."""

    def __init__(self):
        super().__init__("This transfer is done already.")


# --- the wizard's state ------------------------------------------------------------------
def start_transfer(*, subscription: Subscription, transfer_date: date, actor) -> TransferDraft:
    _require_actor(actor, subscription.session)
    if subscription.end_date is not None and subscription.end_date <= transfer_date:
        raise BusinessRuleError(
            f"This subscription ends on {subscription.end_date:%-d %b %Y}: "
            "there is nothing to transfer from that date."
        )
    if hasattr(subscription, "transfer_out"):
        raise BusinessRuleError("This subscription has already been transferred.")
    return TransferDraft.objects.create(
        subscription=subscription,
        transfer_date=max(transfer_date, subscription.first_date),
        end_date=max(transfer_date, subscription.first_date),
        created_by=actor,
    )


def choose_target(*, draft: TransferDraft, session: Session, actor) -> None:
    _require_open(draft)
    _require_actor(actor, session)
    if session.pk == draft.subscription.session_id:
        raise BusinessRuleError("Choose another session: this is the one the client is in.")
    draft.target = session
    draft.first_date = None
    draft.skipped_dates = []
    draft.save(update_fields=["target", "first_date", "skipped_dates"])


def choose_dates(*, draft: TransferDraft, first_date: date, end_date: date, actor, skip=()) -> None:
    """Checks what can be checked now; the final step checks everything again.
    A later date of the target with no place free is refused (``FullDates``,
    which lists them) unless the user accepted to skip it (``skip``)."""
    _require_actor(actor, draft.subscription.session)
    _require_open(draft)
    if draft.target is None:
        raise BusinessRuleError("Choose the new session first.")
    _check_dates(draft.subscription, draft.target, first_date, end_date)
    _first_session_date(draft.target, first_date)
    skipped = check_places(session=draft.target, first_date=first_date, skip=skip)
    draft.first_date, draft.end_date, draft.skipped_dates = first_date, end_date, skipped
    draft.save(update_fields=["first_date", "end_date", "skipped_dates"])


def add_discount(*, draft: TransferDraft, actor, amount=None, percent=None, reason: str) -> None:
    """Kept on the draft, once the plan of the invoice takes it (billing's rules:
    a BusinessRuleError says why not)."""
    _require_actor(actor, draft.subscription.session)
    entry = {"reason": reason.strip()}
    if amount is not None:
        entry["amount"] = str(amount)
    if percent is not None:
        entry["percent"] = str(percent)
    candidate = [*draft.discounts, entry]
    preview(draft, discounts=candidate)
    _save_open(draft, discounts=candidate)


def remove_discount(*, draft: TransferDraft, actor, index: int) -> None:
    _require_actor(actor, draft.subscription.session)
    _save_open(draft, discounts=[d for i, d in enumerate(draft.discounts) if i != index])


LEFTOVER_CHOICES = ("credit", "refund")


def set_credit(*, draft: TransferDraft, actor, apply: bool, leftover: str | None = None) -> None:
    """Whether the unused value is credited on the new invoice, and what becomes of
    the part it cannot take (``leftover``): kept as account credit, or refunded."""
    _require_actor(actor, draft.subscription.session)
    fields: dict = {"apply_credit": apply}
    if leftover is not None:
        if leftover not in LEFTOVER_CHOICES:
            raise BusinessRuleError("Choose: keep it as account credit, or refund it.")
        fields["leftover"] = leftover
    _save_open(draft, **fields)


def _save_open(draft: TransferDraft, **fields) -> None:
    """Writes the wizard's state unless the draft's transfer was made: one UPDATE
    that waits for a finishing transfer's lock and then finds it done (a stale tab
    changes nothing)."""
    if not TransferDraft.objects.filter(pk=draft.pk, transfer__isnull=True).update(**fields):
        raise TransferDone
    for name, value in fields.items():
        setattr(draft, name, value)


def purge_drafts(*, older_than: timedelta | None = None) -> int:
    """Deletes the wizard's state of transfers started over ``older_than`` ago
    (``OPUS_TRANSFER_DRAFT_DAYS``), finished or not: a finished transfer is its own
    record, and an old wizard link then answers 404. Returns how many."""
    age = older_than or timedelta(days=settings.OPUS_TRANSFER_DRAFT_DAYS)
    deleted, _ = TransferDraft.objects.filter(created_at__lt=timezone.now() - age).delete()
    return deleted


def _require_open(draft: TransferDraft) -> None:
    if draft.transfer_id:
        raise TransferDone


def _require_actor(actor, *sessions: Session) -> None:
    require_transfer_actor(actor)
    visible = set(
        Session.objects.visible_to(actor)
        .filter(pk__in=[s.pk for s in sessions])
        .values_list("pk", flat=True)
    )
    if any(s.pk not in visible for s in sessions):
        raise PermissionDenied("You cannot see one of these sessions.")


def _check_dates(subscription: Subscription, target: Session, first_date: date, end_date: date):
    if end_date < subscription.first_date:
        raise BusinessRuleError(
            f"The old subscription cannot end before it started "
            f"({subscription.first_date:%-d %b %Y}).",
            field="end_date",
        )
    if subscription.end_date is not None and end_date > subscription.end_date:
        raise BusinessRuleError(
            f"The old subscription already ends on {subscription.end_date:%-d %b %Y}.",
            field="end_date",
        )
    refuse_too_far_back(
        first_date,
        days=settings.OPUS_TRANSFER_BACKDATE_DAYS,
        today=timezone.localdate(),
        what="The first date",
        field="first_date",
    )
    if target.last_date is not None and first_date > target.last_date:
        raise BusinessRuleError("The new session has ended by then.", field="first_date")
    overlap = settings.OPUS_TRANSFER_MAX_OVERLAP_DAYS
    latest = first_date + timedelta(days=overlap)
    if end_date > latest:
        raise BusinessRuleError(
            f"The current subscription can end at most {_days(overlap)} after the new one "
            f"starts: on {latest:%-d %b %Y} at the latest.",
            field="end_date",
        )


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _first_session_date(target: Session, first_date: date) -> SessionDate:
    first = SessionDate.objects.filter(session=target, date=first_date).first()
    if first is None:
        raise BusinessRuleError("The new session does not run on that date.", field="first_date")
    if first.cancelled:
        raise BusinessRuleError(
            f"{first.date:%-d %b %Y} is cancelled ({first.cancel_reason}): choose another date.",
            field="first_date",
        )
    return first


# --- the transfer itself -------------------------------------------------------------------
def preview(draft: TransferDraft, *, discounts=None) -> Outcome:
    """The invoice the transfer would issue: planned from the draft as the final
    step plans it, reading only (no row written, none locked). Raises
    BusinessRuleError for what the final step would refuse, and TransferDone
    once the draft's transfer was made (read again: the draft may be stale)."""
    draft = TransferDraft.objects.get(pk=draft.pk)
    if draft.transfer_id:
        raise TransferDone
    old = Subscription.objects.select_related(
        "session__service", "relationship__payer", "client"
    ).get(pk=draft.subscription_id)
    target = _target(draft)
    plan, unused, _ = _plan(draft, old, target, actor=draft.created_by, discounts=discounts)
    return Outcome(None, None, lines=plan.lines, totals=plan.totals, unused=unused)


def _target(draft: TransferDraft) -> Session:
    if draft.target_id is None or draft.first_date is None or draft.end_date is None:
        raise BusinessRuleError("Choose the new session and its first date first.")
    return Session.objects.select_related("service").get(pk=draft.target_id)


def _plan(draft, old: Subscription, target: Session, *, actor, discounts):
    """Every check of the transfer, and the new subscription (unsaved) with the
    plan of its invoice and the old one's unused value: what the payment step
    shows and what the final step saves."""
    _require_actor(actor, old.session, target)
    if Transfer.objects.filter(from_subscription=old).exists():
        raise BusinessRuleError("This subscription has already been transferred.")
    if target.pk == old.session_id:
        raise BusinessRuleError("Choose another session: this is the one the client is in.")
    _check_dates(old, target, draft.first_date, draft.end_date)
    _first_session_date(target, draft.first_date)
    # the dates skipped are those the user accepted (and saw on the invoice), even if
    # one of them has a place again since
    check_places(session=target, first_date=draft.first_date, skip=draft.skipped_dates)
    if (
        Subscription.objects.filter(client=old.client, session=target)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=draft.first_date))
        .exists()
    ):
        raise _overlap(old)
    unused = unused_value(old, draft.end_date)
    new = Subscription(
        client=old.client,
        session=target,
        relationship=old.relationship,
        first_date=draft.first_date,
        price=target.service.price,
        currency=target.service.currency,
        created_by=actor,
    )
    plan = plan_subscription_invoice(new, skipped=draft.skipped_dates)
    for entry in draft.discounts if discounts is None else discounts:
        plan.discount(
            reason=entry.get("reason", ""),
            amount=Decimal(entry["amount"]) if entry.get("amount") else None,
            percent=Decimal(entry["percent"]) if entry.get("percent") else None,
        )
    credit = min(unused.value, plan.totals["total"]) if draft.apply_credit else Decimal(0)
    if credit > 0:
        # a credit can take the invoice to zero, not below: what is left over of
        # the unused value is shown to the user, to refund or credit later
        plan.credit(
            amount=credit,
            description=f"Unused from {old.session.service.name}",
            reason=f"{unused.sessions.normalize():f} paid "
            f"{'session' if unused.sessions == 1 else 'sessions'} not attended after "
            f"{draft.end_date:%-d %b %Y}",
        )
    unused.credited = credit
    return plan, unused, new


def _overlap(old: Subscription) -> BusinessRuleError:
    return BusinessRuleError(
        f"{old.client.first_name} already has a subscription in that session that "
        "overlaps this one: choose a later first date.",
        field="first_date",
    )


def finish_transfer(*, draft: TransferDraft, actor, finish: Finish) -> Outcome:
    """The final step. Submitting it twice, or from two tabs, makes one transfer:
    the draft row is locked and remembers the transfer it made.

    Paying by card, the transfer, its invoice (open, due today) and the charge's
    attempt commit together first; the card is charged after, outside the
    transaction. A decline leaves the client enrolled and the invoice open (the
    decline is in the payer's history, and in ``charge_error``); a replay retries
    an attempt still pending, with its own key."""
    if finish.how not in FINISHES:
        raise BusinessRuleError("Choose how to finish: pay now, pay later, or close now.")
    outcome = _transfer(draft, actor=actor, finish=finish)
    for refund in outcome.leftover_refunds:  # committed with the transfer: send them now
        if refund.status == Refund.Status.PENDING:
            try:
                billing.run_refund(refund=refund, actor=actor)
            except BusinessRuleError as error:  # recorded; the credit stays on the account
                outcome.refund_error = error
            refund.refresh_from_db()
    outcome.attempt = billing_selectors.attempt_for(request_key=_charge_key(draft))
    if outcome.attempt is not None:
        try:
            billing.run_card_attempt(attempt=outcome.attempt, actor=actor)
        except BusinessRuleError as error:  # the transfer is done whatever the card said
            outcome.charge_error = error
        outcome.attempt.refresh_from_db()
        assert outcome.invoice is not None  # a transfer has its invoice
        outcome.invoice.refresh_from_db()
    return outcome


def _charge_key(draft: TransferDraft) -> str:
    return f"transfer-{draft.public_id}"


@transaction.atomic
def _transfer(draft, *, actor, finish: Finish) -> Outcome:
    require_transfer_actor(actor)
    draft = TransferDraft.objects.select_for_update().get(pk=draft.pk)
    if draft.transfer_id:
        transfer = Transfer.objects.select_related("invoice").get(pk=draft.transfer_id)
        return Outcome(transfer=transfer, invoice=transfer.invoice, replayed=True)
    _target(draft)
    target = lock_places(draft.target_id)  # places first, then the subscription
    old = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("session__service", "relationship__payer", "client")
        .get(pk=draft.subscription_id)
    )
    plan, unused, new = _plan(draft, old, target, actor=actor, discounts=None)

    old.end_date = draft.end_date
    old.save(update_fields=["end_date"])
    DateAbsence.objects.filter(subscription=old, session_date__date__gte=draft.end_date).delete()
    try:
        with transaction.atomic():
            new.save()
    except IntegrityError as error:  # one made since the check
        raise _overlap(old) from error
    skip_dates(subscription=new, days=draft.skipped_dates, actor=actor)
    invoice = billing.save_plan(plan, relationship=old.relationship, actor=actor)
    lines = list(invoice.lines.all())
    totals = billing.invoice_totals(lines)

    transfer = Transfer.objects.create(
        from_subscription=old,
        to_subscription=new,
        transfer_date=draft.transfer_date,
        invoice=invoice,
        actor=actor,
    )
    draft.transfer = transfer
    draft.save(update_fields=["transfer"])
    invoice = _finish(invoice, finish, actor=actor, draft=draft)
    entry, refunds = _settle_leftover(draft, old, transfer, unused, invoice, actor=actor)
    record_event(
        client=old.client,
        kind=ClientEvent.Kind.TRANSFERRED,
        summary=(
            f"Transferred from {old.session} to {target} from {new.first_date:%-d %b %Y} "
            f"({invoice.display_number}, {invoice.get_status_display().lower()})"
        ),
        actor=actor,
        practitioners=[old.session.practitioner_id, target.practitioner_id],
    )
    return Outcome(
        transfer=transfer,
        invoice=invoice,
        lines=lines,
        totals=totals,
        unused=unused,
        leftover_entry=entry,
        leftover_refunds=refunds,
    )


def _settle_leftover(
    draft, old: Subscription, transfer: Transfer, unused: Unused, invoice: Invoice, *, actor
):
    """The unused value the new invoice could not take goes to the payer's account
    (once per transfer); when the user chose to refund it, it is paid out at once
    against the payments of the old subscription's paid invoices (card: to the
    card, sent once this commits; by hand: recorded as paid back the same way)."""
    left = unused.left_over
    if left <= 0:
        return None, []
    payer = old.relationship.payer
    entry = billing.grant_account_credit(
        payer=payer,
        amount=left,
        currency=unused.currency,
        kind=AccountEntry.Kind.TRANSFER,
        description=f"Unused value of {old.session.service.name} beyond the new invoice",
        reason=f"Transferred from {old.session} on {draft.end_date:%-d %b %Y}",
        source=f"transfer:{transfer.pk}",
        invoice=invoice,  # the history row is about the sessions the invoice is about
        actor=actor,
    )
    if draft.leftover != "refund":
        return entry, []
    payments = list(
        Payment.objects.filter(
            invoice__payer=payer,
            invoice__status=Invoice.Status.PAID,
            invoice__lines__subscription=old,
            invoice__lines__kind="charge",
        )
        .distinct()
        .select_related("invoice")
    )
    refunds = billing.refund_account_credit(
        payer=payer,
        currency=unused.currency,
        amount=left,
        reason=f"Unused value of {old.session.service.name} after a transfer",
        payments=payments,
        request_key=f"transfer-{draft.public_id}-refund",
        actor=actor,
    )
    return entry, refunds


def _finish(invoice: Invoice, finish: Finish, *, actor, draft: TransferDraft) -> Invoice:
    today = timezone.localdate()
    if finish.how == FINISH_CLOSE_NOW:
        if not finish.close_reason.strip():
            raise BusinessRuleError("Say why nothing more is expected.", field="close_reason")
        return billing.close_invoice(invoice=invoice, reason=finish.close_reason, actor=actor)
    if finish.how == FINISH_PAY_LATER:
        due_on = finish.due_on or billing.default_due_on(today)
        if due_on < today:
            raise BusinessRuleError("The due date is in the past.", field="due_on")
        invoice = billing.issue_invoice(invoice=invoice, due_on=due_on, actor=actor)
        if invoice.status == Invoice.Status.OPEN:  # a credit may leave nothing to pay
            billing.send_invoice(invoice=invoice, actor=actor)
        return invoice
    invoice = billing.issue_invoice(invoice=invoice, due_on=today, actor=actor)
    balance = billing_selectors.balance_due(invoice)
    if balance <= 0:
        return invoice
    if finish.method == PAY_BY_CARD:
        card = billing_selectors.card_on_file(invoice.payer)
        if card is None:
            raise BusinessRuleError(
                f"{invoice.payer.full_name} has no card on file: record the payment by hand, "
                "or choose Enroll and Pay Later.",
                field="method",
            )
        # recorded now, committed with the transfer; finish_transfer charges it after
        billing.start_card_attempt(
            invoice=invoice, payment_method=card, request_key=_charge_key(draft), actor=actor
        )
    else:
        if finish.method not in Payment.Method.values:
            raise BusinessRuleError("Choose how the payment was made.", field="method")
        billing.record_payment(
            invoice=invoice,
            amount=balance,
            method=finish.method,
            reference=finish.reference,
            actor=actor,
        )
    invoice.refresh_from_db()
    return invoice


def describe_total(outcome: Outcome, currency: str) -> str:
    return format_money(outcome.totals.get("total", Decimal(0)), currency)
