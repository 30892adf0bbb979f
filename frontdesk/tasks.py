from celery import shared_task

from frontdesk import imports, transfers


@shared_task
def purge_transfer_drafts() -> int:
    """Beat runs it daily: the wizard's state of transfers started long ago."""
    return transfers.purge_drafts()


@shared_task(acks_late=True)
def run_import(job_id: int) -> None:
    """A large CSV import's dry run or import (frontdesk.imports); redelivered after a
    crash it starts over, and matching keeps it from creating anything twice."""
    imports.run_job(job_id)
