from celery import shared_task

from scheduling import services


@shared_task
def extend_schedule() -> int:
    """Beat runs it daily: every session not finished has its dates generated up
    to the horizon (OPUS_SCHEDULE_HORIZON_WEEKS ahead), so the schedule never runs
    dry. Idempotent: running it twice, or on two workers at once, adds nothing more."""
    return services.extend_schedule(until=services.horizon())
