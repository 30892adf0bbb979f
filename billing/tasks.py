import contextlib

from celery import shared_task

from billing import services
from billing.models import Refund
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError


@shared_task
def reconcile_payment_attempts() -> int:
    """Beat runs it every few minutes: card charges left pending get their outcome."""
    return services.reconcile_payment_attempts()


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
