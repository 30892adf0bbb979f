from celery import shared_task

from frontdesk import transfers


@shared_task
def purge_transfer_drafts() -> int:
    """Beat runs it daily: the wizard's state of transfers started long ago."""
    return transfers.purge_drafts()
