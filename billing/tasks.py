from celery import shared_task

from billing import services


@shared_task
def reconcile_payment_attempts() -> int:
    """Beat runs it every few minutes: card charges left pending get their outcome."""
    return services.reconcile_payment_attempts()
