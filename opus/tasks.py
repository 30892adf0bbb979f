from celery import shared_task
from django.utils import timezone

from opus import services
from opus.models import OutboundEmail, WorkerHeartbeat


@shared_task(acks_late=True, max_retries=services.MAX_ATTEMPTS)
def send_outbound_email(outbox_id: int) -> str:
    result = services.send_outbound(outbox_id)
    if result == "retry":
        row = OutboundEmail.objects.get(pk=outbox_id)
        delay = (row.next_attempt_at - timezone.now()).total_seconds()
        raise send_outbound_email.retry(countdown=max(delay, 1))
    return result


@shared_task
def sweep_outbox() -> int:
    return services.sweep_outbox()


@shared_task
def heartbeat(name: str = "worker") -> str:
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
    return name
