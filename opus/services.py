"""The outbox: an email is a row written in the caller's transaction; a worker
task sends it after commit; a periodic sweep sends what the broker lost."""

from __future__ import annotations

import logging
import random
import smtplib
from datetime import timedelta

from celery import current_app
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from opus.mail import EMAIL_KINDS, build_message, provider_message_id
from opus.models import OutboundEmail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
SEND_TASK = "opus.tasks.send_outbound_email"
SWEEP_GRACE = timedelta(seconds=30)


class TransientSendError(Exception):
    """The provider may accept the message later: retry with backoff."""


def queue_email(*, template: str, to: str, context: dict, client=None) -> OutboundEmail:
    """Write the outbox row in the current transaction; send after commit."""
    if template not in EMAIL_KINDS:
        raise ValueError(f"unknown email kind {template!r}")
    row = OutboundEmail.objects.create(
        template=template, to_address=to, context=context, client=client
    )
    transaction.on_commit(lambda: enqueue_send(row.pk))
    return row


def enqueue_send(outbox_id: int) -> None:
    """Hand the row to the broker. The broker being down loses nothing: the row
    stays pending and the sweep sends it."""
    try:
        # by name, from Celery's registry: the task module imports this one
        current_app.tasks[SEND_TASK].apply_async((outbox_id,), retry=False)
    except Exception:  # the broker is unreachable; the sweep is the safety net
        logger.warning("broker unavailable; outbox row %s left for the sweep", outbox_id)


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at an hour."""
    return random.uniform(0, min(3600.0, 30.0 * (2 ** max(attempt - 1, 0))))


def _is_permanent(error: Exception) -> bool:
    """Will sending this again fail the same way? A refused recipient, a 4xx from
    the provider, or the configuration (a missing key or package, credentials
    refused): retrying for hours only hides it. The settings refuse to start on
    most of these; this catches what only a send can show."""
    from anymail.exceptions import AnymailRecipientsRefused

    if isinstance(
        error,
        AnymailRecipientsRefused
        | smtplib.SMTPRecipientsRefused
        | smtplib.SMTPAuthenticationError
        | ImproperlyConfigured
        | ImportError,
    ):
        return True
    status = getattr(error, "status_code", None)
    return status is not None and 400 <= int(status) < 500 and int(status) != 429


POISON_AFTER = 3  # sends that died with their worker before a row is set aside


def _claim(outbox_id: int) -> str:
    """Count a start, committed before the send: a send that kills its worker
    rolls back everything else, so this count is what shows a poison row. After
    POISON_AFTER such deaths the row is set aside (failed, on the client's
    history) and the queue moves on."""
    with transaction.atomic():
        row = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, status=OutboundEmail.Status.PENDING)
            .first()
        )
        if row is None:
            return "skipped"
        if row.claims - row.attempts >= POISON_AFTER:
            row.status = OutboundEmail.Status.FAILED
            row.last_error = f"Set aside: the send died with its worker {POISON_AFTER} times"
            row.save(update_fields=["status", "last_error"])
            logger.error("outbox row %s set aside after %s worker deaths", row.pk, POISON_AFTER)
            kind = EMAIL_KINDS.get(row.template)
            if kind is not None and kind.on_failed:
                kind.on_failed(row)
            return "set aside"
        row.claims += 1
        row.save(update_fields=["claims"])
        return "claimed"


def send_outbound(outbox_id: int) -> str:
    """Send one outbox row, once. Returns what happened: sent, skipped, failed, retry.

    The row is locked for the whole send (skip_locked: a second worker walks
    away), so a redelivered task finds it sent. A worker killed after the
    provider accepted the message and before the commit will send it again:
    that duplicate window is logged with the attempt number.
    """
    if _claim(outbox_id) == "set aside":
        return "failed"
    with transaction.atomic():
        row = (
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=outbox_id, status=OutboundEmail.Status.PENDING)
            .first()
        )
        if row is None:
            return "skipped"
        kind = EMAIL_KINDS[row.template]
        context = kind.context(row)
        if context is None:
            row.status = OutboundEmail.Status.FAILED
            row.last_error = "No longer needed"
            row.save(update_fields=["status", "last_error"])
            return "skipped"
        row.attempts += 1
        logger.info("sending outbox row %s (%s), attempt %s", row.pk, row.template, row.attempts)
        message = build_message(row.template, to=row.to_address, context=context)
        for filename, content, mimetype in (
            kind.attachments(row, context) if kind.attachments else ()
        ):
            message.attach(filename, content, mimetype)
        try:
            message.send()
        except Exception as error:
            permanent = _is_permanent(error) or row.attempts >= MAX_ATTEMPTS
            row.last_error = f"{type(error).__name__}"[:500]
            if permanent:
                row.status = OutboundEmail.Status.FAILED
                if kind.on_failed:
                    kind.on_failed(row)
            else:
                row.next_attempt_at = timezone.now() + timedelta(seconds=backoff(row.attempts))
            row.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
            logger.warning(
                "outbox row %s: %s (%s)",
                row.pk,
                row.last_error,
                "gave up" if permanent else "will retry",
            )
            return "failed" if permanent else "retry"
        row.status = OutboundEmail.Status.SENT
        row.sent_at = timezone.now()
        row.provider_message_id = provider_message_id(message)[:255]
        row.save(update_fields=["status", "attempts", "sent_at", "provider_message_id"])
        if kind.on_sent:
            kind.on_sent(row)
        return "sent"


def pending_outbox_ids(*, limit: int = 500) -> list[int]:
    """Rows the broker may never have delivered, or that wait for a retry."""
    now = timezone.now()
    return list(
        OutboundEmail.objects.filter(
            status=OutboundEmail.Status.PENDING, created_at__lte=now - SWEEP_GRACE
        )
        .exclude(next_attempt_at__gt=now)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def sweep_outbox() -> int:
    """Send every pending row whose time has come; returns how many were sent."""
    return sum(send_outbound(pk) == "sent" for pk in pending_outbox_ids())
