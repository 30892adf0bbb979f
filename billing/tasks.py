from celery import shared_task

from billing import services
from billing.services import gateway_events


@shared_task
def reconcile_payment_attempts() -> int:
    """Beat runs it every few minutes: card charges left pending get their outcome,
    and processor events the worker never received are processed."""
    gateway_events.process_pending_events()
    return services.reconcile_payment_attempts()


@shared_task(autoretry_for=(services.GatewayError,), retry_backoff=True, max_retries=5)
def process_gateway_event(event_pk: int) -> str:
    """A webhook event stored by the endpoint (billing.views.stripe_webhook)."""
    return gateway_events.process_event(event_pk=event_pk)


@shared_task
def request_updates_for_expiring_cards() -> int:
    """Beat runs it daily: payers of cards expiring within 30 days get a link."""
    return services.request_updates_for_expiring_cards()
