"""Collecting issued invoices: autopay (charged off-session after the issue, then
retried on the practice's ladder, then handed to staff) and the public pay link
(the payer pays by card, optionally saving it).

Both charge through the attempt discipline of ``billing.services.payments``: an
attempt committed first with its own idempotency key, the processor asked with no
transaction open, the answer recorded after."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from billing import gateway as gateways
from billing.consent import consent_given
from billing.emails import REMINDER
from billing.gateway import CardDeclined, CardDetails, CardSetup, GatewayError
from billing.models import (
    AutopayPlan,
    Invoice,
    InvoiceEvent,
    InvoicePayLink,
    InvoiceReminder,
    LateFee,
    Payment,
    PaymentAttempt,
    PaymentMethod,
)
from billing.permissions import require_billing_actor
from billing.selectors import amount_paid, card_on_file, invoice_practitioners
from billing.services.followup import (
    AUTOPAY_LEASE,
    invoice_event,
    queue_decline_notice,
)
from billing.services.invoices import add_charge, create_draft, issue_invoice, send_invoice
from billing.services.payments import (
    ChargeAwaitingConfirmation,
    ChargePending,
    run_card_attempt,
    start_card_attempt,
)
from billing.tokens import hash_token
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus import practice as practices
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money
from opus.services import queue_email

logger = logging.getLogger(__name__)

AUTOPAY_KEY = "autopay-"


# --- autopay -------------------------------------------------------------------------------------


@transaction.atomic
def set_autopay(*, client, enabled: bool, actor) -> bool:
    """Staff turn a payer's autopay on or off (it works only while the practice has
    autopay on and the payer a card on file). Returns whether anything changed;
    turning it off stops the payer's pending autopay retries (their invoices stay
    open, reminded as any other)."""
    require_billing_actor(actor)
    locked = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    if locked.autopay == enabled:
        return False
    locked.autopay = enabled
    locked.save(update_fields=["autopay"])
    client.autopay = enabled
    if not enabled:
        now = timezone.now()
        AutopayPlan.objects.filter(invoice__payer=locked, next_attempt_at__isnull=False).update(
            next_attempt_at=None, finished_at=now
        )
    record_event(
        client=locked,
        kind=ClientEvent.Kind.CARD,
        summary="Autopay turned " + ("on" if enabled else "off"),
        actor=actor,
    )
    return True


def _finish(plan: AutopayPlan, now) -> None:
    plan.next_attempt_at = None
    plan.finished_at = now
    plan.save(update_fields=["next_attempt_at", "finished_at"])


def _follow_up(plan: AutopayPlan, now, why: str) -> None:
    plan.next_attempt_at = None
    plan.follow_up_at = now
    plan.save(update_fields=["next_attempt_at", "follow_up_at"])
    invoice = plan.invoice
    invoice_event(invoice, InvoiceEvent.Kind.FOLLOW_UP, f"Needs follow-up by staff: {why}", at=now)
    record_event(
        client=invoice.payer,
        kind=ClientEvent.Kind.PAYMENT,
        summary=f"Autopay of {invoice.display_number} stopped: {why}; it needs follow-up",
        actor=SYSTEM,
        practitioners=invoice_practitioners(invoice),
    )


def _claim(plan_id: int) -> tuple[AutopayPlan, PaymentAttempt, int] | None:
    """Lock a due plan and record the attempt of its next step (committed before the
    card is charged). None when nothing is to be charged (not due, settled, staff
    charged it already, no card)."""
    with transaction.atomic():
        now = timezone.now()
        plan = (
            AutopayPlan.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("invoice__payer")
            .filter(pk=plan_id, next_attempt_at__lte=now)
            .first()
        )
        if plan is None:
            return None
        invoice = Invoice.objects.select_for_update().get(pk=plan.invoice_id)
        plan.invoice = invoice
        if invoice.status != Invoice.Status.OPEN or invoice.total - amount_paid(invoice) <= 0:
            _finish(plan, now)
            return None
        others = invoice.attempts.exclude(request_key__startswith=AUTOPAY_KEY)
        if plan.attempts == 0 and others.exists():  # staff charged it at the desk
            _finish(plan, now)
            invoice_event(
                invoice, InvoiceEvent.Kind.AUTOPAY, "Autopay stood aside: staff charged the card"
            )
            return None
        card = card_on_file(invoice.payer)
        if card is None:
            _follow_up(plan, now, "the payer has no usable card on file")
            return None
        step = plan.attempts + 1
        if plan.first_attempt_at is None:
            plan.first_attempt_at = now
        plan.next_attempt_at = now + AUTOPAY_LEASE  # a worker that dies: tried again later
        plan.save(update_fields=["first_attempt_at", "next_attempt_at"])
        attempt = start_card_attempt(
            invoice=invoice,
            payment_method=card,
            request_key=f"{AUTOPAY_KEY}{plan.pk}-{step}",
            actor=SYSTEM,
        )
        return plan, attempt, step


def run_autopay(*, plan_id: int) -> str:
    """Charge an invoice's autopay step if it is due: "paid", "declined",
    "follow-up", "awaiting" (the payer's bank asks them to confirm), "pending"
    (the processor did not answer: tried again after a lease), or "skipped".
    Safe to run twice at once (the plan is claimed with skip_locked; a step's
    request key finds its attempt again)."""
    try:
        claimed = _claim(plan_id)
    except BusinessRuleError as error:  # nothing left to charge, meanwhile
        logger.info("autopay plan %s: %s", plan_id, error.message)
        return "skipped"
    if claimed is None:
        return "skipped"
    plan, attempt, step = claimed
    try:
        payment = run_card_attempt(attempt=attempt, actor=SYSTEM)
    except ChargePending:
        return "pending"
    except ChargeAwaitingConfirmation:
        return _awaiting_payer(plan.pk, step)
    except CardDeclined:
        return _after_decline(plan.pk, step)
    except BusinessRuleError:  # never reached the processor: the lease retries
        return "pending"
    with transaction.atomic():
        plan = AutopayPlan.objects.select_for_update().select_related("invoice").get(pk=plan.pk)
        plan.attempts = step
        plan.save(update_fields=["attempts"])
        _finish(plan, timezone.now())
        invoice_event(
            plan.invoice,
            InvoiceEvent.Kind.AUTOPAY,
            f"Autopay charged {format_money(payment.amount, payment.currency)} "
            f"to {payment.reference}",
        )
    return "paid"


def _awaiting_payer(plan_id: int, step: int) -> str:
    """The payer's bank asks them to confirm the charge (3-D Secure): they were
    emailed the confirmation link, and the webhook or the reconciliation settles the
    attempt. Autopay stops here: a retry would only ask the bank again."""
    with transaction.atomic():
        plan = AutopayPlan.objects.select_for_update().select_related("invoice").get(pk=plan_id)
        if plan.attempts >= step:  # recorded already (a second run of the same step)
            return "awaiting"
        plan.attempts = step
        plan.save(update_fields=["attempts"])
        _finish(plan, timezone.now())
        invoice_event(
            plan.invoice,
            InvoiceEvent.Kind.AUTOPAY,
            "Autopay awaits the payer's confirmation: their bank asks them to confirm the "
            "charge, and they were emailed a link",
        )
    return "awaiting"


def _after_decline(plan_id: int, step: int) -> str:
    with transaction.atomic():
        plan = (
            AutopayPlan.objects.select_for_update(of=("self",))
            .select_related("invoice__payer")
            .get(pk=plan_id)
        )
        if plan.attempts >= step:  # recorded already (a second run of the same step)
            return "declined"
        now = timezone.now()
        plan.attempts = step
        ladder = [int(day) for day in plan.ladder.split(",") if day.strip()]
        plan.save(update_fields=["attempts"])
        invoice = plan.invoice
        if step <= len(ladder):
            assert plan.first_attempt_at is not None
            next_at = max(plan.first_attempt_at + timedelta(days=ladder[step - 1]), now)
            plan.next_attempt_at = next_at
            plan.save(update_fields=["next_attempt_at"])
            invoice_event(
                invoice,
                InvoiceEvent.Kind.AUTOPAY,
                f"Autopay declined (attempt {step}); next try "
                f"{timezone.localtime(next_at):%-d %b %Y}",
                at=now,
            )
            queue_decline_notice(plan, next_attempt_at=next_at)
            return "declined"
        invoice_event(
            invoice, InvoiceEvent.Kind.AUTOPAY, f"Autopay declined (attempt {step})", at=now
        )
        _follow_up(plan, now, f"the card was declined {step} times")
        queue_decline_notice(plan, next_attempt_at=None)
        return "follow-up"


def run_due_autopay(*, limit: int = 200) -> int:
    """Run every autopay step that is due (beat runs it hourly). Returns how many
    plans it tried."""
    due = list(
        AutopayPlan.objects.filter(
            next_attempt_at__lte=timezone.now(), invoice__status=Invoice.Status.OPEN
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for plan_id in due:
        run_autopay(plan_id=plan_id)
    # plans of invoices paid, voided or closed meanwhile: nothing more to do
    AutopayPlan.objects.filter(next_attempt_at__isnull=False).exclude(
        invoice__status=Invoice.Status.OPEN
    ).update(next_attempt_at=None, finished_at=timezone.now())
    return len(due)


# --- the public pay link ---------------------------------------------------------------------


class PayLinkClosed(BusinessRuleError):
    """The invoice behind the link is paid (``paid``), or void, closed or not issued."""

    def __init__(self, invoice: Invoice):
        super().__init__(f"{invoice.display_number} is {invoice.get_status_display().lower()}.")
        self.invoice = invoice
        self.paid = invoice.status == Invoice.Status.PAID


def pay_link_for_token(token: str) -> InvoicePayLink | None:
    return (
        InvoicePayLink.objects.select_related("invoice__payer")
        .filter(token_hash=hash_token(token))
        .first()
    )


def pay_setup_for_link(*, link: InvoicePayLink) -> CardSetup:
    """The processor's card setup behind a pay link's page, for a processor whose
    script takes the card in the page (Stripe): started for the payer (their
    customer) the first time the page opens, the same one on every later opening
    until a card is taken through it. Opening the page changes nothing else."""
    gateway = gateways.get_gateway()
    link.refresh_from_db(fields=["setup_id"])  # a card taken meanwhile cleared it
    previous = link.setup_id
    if previous:
        setup = gateway.retrieve_setup(setup_id=previous)
        if setup is not None:
            return setup
    # none yet, the last one took a card, or it was canceled (a declined card)
    setup = gateway.create_setup(reference=f"invoice-{link.invoice_id}", payer=link.invoice.payer)
    with transaction.atomic():
        claimed = InvoicePayLink.objects.filter(pk=link.pk, setup_id=previous).update(
            setup_id=setup.id
        )
    if not claimed:  # another opening of the page started one first: use that one
        link.refresh_from_db(fields=["setup_id"])
        return gateway.retrieve_setup(setup_id=link.setup_id) or setup
    link.setup_id = setup.id
    return setup


@sensitive_variables("card", "token")
def pay_invoice_from_link(
    *,
    token: str,
    save_card: bool,
    request_key: str,
    card: CardDetails | None = None,
    confirmation: str = "",
) -> Payment:
    """The payer pays the invoice's balance by card through its emailed link. The
    card is handed to the gateway (``card``; with Stripe, ``confirmation`` is the
    SetupIntent Stripe.js confirmed in the page, and the card never reaches Opus),
    saved as the payer's card on file, with their consent recorded, when
    ``save_card``; otherwise kept only as the record of this charge. The attempt is
    recorded and committed, then charged. The same page submitted twice
    (``request_key``) finds its attempt; submissions at once are serialised on the
    link, and a charge pending on the invoice is finished rather than another
    started: one charge. Raises PayLinkClosed (paid, void, closed), CardError (the
    card could not be saved), CardDeclined, ChargeAwaitingConfirmation,
    ChargePending."""
    with transaction.atomic():
        link = (
            InvoicePayLink.objects.select_for_update(of=("self",))
            .filter(token_hash=hash_token(token))
            .first()
        )
        if link is None:
            raise BusinessRuleError("This link is not valid.")
        invoice = (
            Invoice.objects.select_for_update().select_related("payer").get(pk=link.invoice_id)
        )
        attempt = PaymentAttempt.objects.filter(request_key=request_key, invoice=invoice).first()
        if attempt is None:
            if invoice.status != Invoice.Status.OPEN:
                raise PayLinkClosed(invoice)
            attempt = invoice.attempts.filter(status=PaymentAttempt.Status.PENDING).first()
        if attempt is None:
            saved = _card_from_page(link, invoice, card, confirmation)
            attempt = _attempt_with_new_card(invoice, saved, save_card, request_key)
    return run_card_attempt(attempt=attempt, actor=SYSTEM)


@sensitive_variables("card")
def _card_from_page(link: InvoicePayLink, invoice: Invoice, card, confirmation: str):
    gateway = gateways.get_gateway()
    if gateway.collects_card_in_page:
        setup = gateway.create_setup(reference=f"invoice-{invoice.pk}")
        return gateway.confirm_setup(setup=setup, card=card)  # CardError: nothing saved
    # the setup this page started, once: the next card on this page gets a fresh one
    saved = gateway.confirm_setup(setup=CardSetup(id=link.setup_id), confirmation=confirmation)
    link.setup_id = ""
    link.save(update_fields=["setup_id"])
    return saved


def _attempt_with_new_card(invoice, saved, save_card: bool, request_key: str) -> PaymentAttempt:
    try:
        with transaction.atomic():
            method = PaymentMethod.objects.create(
                client_id=invoice.payer_id,
                gateway=saved.gateway,
                token=saved.token,
                brand=saved.brand,
                last4=saved.last4,
                exp_month=saved.exp_month,
                exp_year=saved.exp_year,
                **(consent_given() if save_card else {}),
            )
    except IntegrityError as error:  # a token the gateway gave twice
        raise GatewayError("duplicate token") from error
    now = timezone.now()
    attempt = start_card_attempt(
        invoice=invoice, payment_method=method, request_key=request_key, actor=SYSTEM
    )
    name = f"{saved.brand.title()} ending {saved.last4}"
    if save_card:
        record_event(
            actor=SYSTEM,
            client=invoice.payer,
            kind=ClientEvent.Kind.CARD,
            summary=f"{name} saved while paying {invoice.display_number} through its link",
        )
    else:  # kept only as the record of this charge: never a card on file
        method.removed_at = now
        method.save(update_fields=["removed_at"])
    invoice_event(
        invoice,
        InvoiceEvent.Kind.PAY_LINK,
        f"Card payment through the link started ({name})"
        + (", saving the card" if save_card else ""),
        at=now,
    )
    return attempt


# --- reminders of open invoices without autopay ------------------------------------------------


# no autopay plan, or one stopped by the payer's autopay being turned off (not one
# still retrying, nor one handed to staff for follow-up after its last retry)
WITHOUT_AUTOPAY = Q(autopay__isnull=True) | Q(
    autopay__next_attempt_at__isnull=True, autopay__follow_up_at__isnull=True
)


def _reminder_text(step: int) -> str:
    if step < 0:
        return f"due in {-step} day{'s' if step != -1 else ''}"
    if step == 0:
        return "due today"
    return f"{step} day{'s' if step != 1 else ''} overdue"


def remind_invoice(*, invoice_id: int, steps: list[int], today) -> bool:
    """Send the invoice's latest due reminder step if none at or after it was sent:
    an invoice found late gets one reminder, never a burst of the steps it missed.
    Steps on or before the issue date are skipped. Stopped by payment, void or
    close (only open invoices), and by autopay (its own emails)."""
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("payer")
            .filter(WITHOUT_AUTOPAY, pk=invoice_id, status=Invoice.Status.OPEN)
            .first()
        )
        if invoice is None or invoice.due_on is None or invoice.issued_on is None:
            return False
        due = [
            step
            for step in steps
            if invoice.issued_on < invoice.due_on + timedelta(days=step) <= today
        ]
        if not due:
            return False
        step = due[-1]
        if invoice.reminders.filter(step__gte=step).exists():
            return False
        now = timezone.now()
        InvoiceReminder.objects.create(invoice=invoice, step=step, sent_at=now)
        if invoice.payer.email:
            queue_email(
                template=REMINDER,
                to=invoice.payer.email,
                client=invoice.payer,
                context={"invoice_id": invoice.pk, "step": step},
            )
            summary = f"Reminder emailed ({_reminder_text(step)})"
        else:
            summary = f"Reminder not emailed ({_reminder_text(step)}): the payer has no email"
        invoice_event(invoice, InvoiceEvent.Kind.REMINDER, summary, at=now)
        return True


def send_due_reminders(*, today=None) -> int:
    """The daily sweep: reminders of open invoices without autopay whose step is
    due (the practice's reminder days). Returns how many were sent."""
    steps = practices.current().reminder_steps
    if not steps:
        return 0
    today = today or timezone.localdate()
    candidates = (
        Invoice.objects.filter(
            WITHOUT_AUTOPAY,
            status=Invoice.Status.OPEN,
            due_on__lte=today - timedelta(days=steps[0]),
        )
        .exclude(reminders__step__gte=steps[-1])  # every step sent: done with it
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(remind_invoice(invoice_id=pk, steps=steps, today=today) for pk in candidates)


# --- the optional late fee ----------------------------------------------------------------------
def add_late_fee(*, invoice_id: int, today) -> Invoice | None:
    """Bill the practice's late fee for an open invoice without autopay still
    unpaid ``late_fee_days`` after its due date: once per invoice (held by the
    database), on an invoice of its own to the same payer, issued (due after the
    practice's usual days) and emailed, and said in both invoices' history. Never
    on a fee invoice, nor in another currency than the practice's. Returns the fee
    invoice, or None when none is due."""
    practice = practices.current()
    fee = practice.late_fee
    if not fee:
        return None
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("payer", "relationship")
            .filter(
                WITHOUT_AUTOPAY,
                pk=invoice_id,
                status=Invoice.Status.OPEN,
                currency=settings.OPUS_CURRENCY,
                late_fee__isnull=True,
                late_fee_for__isnull=True,
                due_on__lte=today - timedelta(days=practice.late_fee_days),
            )
            .first()
        )
        if invoice is None:
            return None
        relationship = invoice.relationship
        if relationship is not None and relationship.payer_id != invoice.payer_id:
            relationship = None
        due_text = f"{invoice.due_on:%-d %b %Y}"
        draft = create_draft(
            payer=invoice.payer, relationship=relationship, actor=SYSTEM, currency=invoice.currency
        )
        add_charge(
            invoice=draft,
            actor=SYSTEM,
            description=f"Late fee: {invoice.display_number} unpaid {practice.late_fee_days} "
            f"days after its due date ({due_text})",
            unit_price=fee,
        )
        fee_invoice = issue_invoice(invoice=draft, issued_on=today, actor=SYSTEM)
        now = timezone.now()
        LateFee.objects.create(invoice=invoice, fee_invoice=fee_invoice, amount=fee, added_at=now)
        amount = format_money(fee, invoice.currency)
        invoice_event(
            invoice,
            InvoiceEvent.Kind.LATE_FEE,
            f"Late fee of {amount} billed on {fee_invoice.display_number} "
            f"(unpaid {practice.late_fee_days} days after {due_text})",
            at=now,
        )
        invoice_event(
            fee_invoice,
            InvoiceEvent.Kind.LATE_FEE,
            f"Late fee for {invoice.display_number}",
            at=now,
        )
        record_event(
            client=invoice.payer,
            kind=ClientEvent.Kind.INVOICE,
            summary=f"Late fee of {amount} for {invoice.display_number}: "
            f"{fee_invoice.display_number} issued",
            actor=SYSTEM,
            practitioners=invoice_practitioners(invoice),
        )
        send_invoice(invoice=fee_invoice, actor=SYSTEM)
        return fee_invoice


def add_due_late_fees(*, today=None) -> int:
    """The daily sweep (with the reminders): the late fee of every open invoice
    without autopay now due one. Returns how many were billed."""
    practice = practices.current()
    if not practice.late_fee:
        return 0
    today = today or timezone.localdate()
    candidates = (
        Invoice.objects.filter(
            WITHOUT_AUTOPAY,
            status=Invoice.Status.OPEN,
            late_fee__isnull=True,
            late_fee_for__isnull=True,
            due_on__lte=today - timedelta(days=practice.late_fee_days),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(add_late_fee(invoice_id=pk, today=today) is not None for pk in candidates)
