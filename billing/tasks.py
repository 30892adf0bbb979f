import contextlib

from celery import shared_task

from billing import services
from billing.models import Refund
from billing.services import gateway_events
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError


@shared_task
def reconcile_payment_attempts() -> int:
    """Beat runs it every few minutes: card charges left pending get their outcome,
    and processor events the worker never received are processed."""
    gateway_events.process_pending_events()
    return services.reconcile_payment_attempts()


@shared_task(acks_late=True)
def issue_billing_run(run_id: int) -> None:
    """An approved billing run's drafts issued and emailed; redelivered after a crash
    it issues only the drafts left (billing.services.runs)."""
    services.runs.issue_run(run_id=run_id, actor=SYSTEM)


@shared_task
def prepare_billing_run() -> None:
    """Beat runs it daily: on the practice's billing day, the coming run is prepared
    (and approved, when the practice approves automatically)."""
    services.runs.prepare_if_due()


@shared_task
def run_autopay(plan_id: int) -> str:
    """Charge an issued invoice's autopay step (queued after the issue commits)."""
    return services.run_autopay(plan_id=plan_id)


@shared_task
def run_due_autopay() -> int:
    """Beat runs it hourly: autopay retries that are due, and any step the broker lost."""
    return services.run_due_autopay()


@shared_task
def send_due_reminders() -> int:
    """Beat runs it hourly (a reminder step is sent once): reminders of open invoices,
    then the practice's late fee where one is due (once per invoice)."""
    return services.send_due_reminders() + services.add_due_late_fees()


@shared_task(autoretry_for=(services.GatewayError,), retry_backoff=True, max_retries=5)
def process_gateway_event(event_pk: int) -> str:
    """A webhook event stored by the endpoint (billing.views.stripe_webhook)."""
    return gateway_events.process_event(event_pk=event_pk)


@shared_task
def request_updates_for_expiring_cards() -> int:
    """Beat runs it daily: payers of cards expiring within 30 days get a link."""
    return services.request_updates_for_expiring_cards()


@shared_task
def reconcile_refunds() -> int:
    """Beat runs it every few minutes: card refunds left pending get their outcome."""
    return services.reconcile_refunds()


@shared_task
def run_refund(refund_id: int) -> None:
    """Send a card refund recorded by a transfer or a rebooking (after its commit)."""
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is not None:
        # a refusal is recorded on the refund and in the payer's history
        with contextlib.suppress(BusinessRuleError):
            services.run_refund(refund=refund, actor=SYSTEM)
