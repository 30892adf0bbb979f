"""The "add a payment card" email, as an outbox email kind (registered in
BillingConfig.ready). The outbox row holds only the request's id; the link is
re-derived from the request when the worker renders the email."""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, InvoiceEvent, Payment, PaymentCardRequest, PaymentConfirmation
from billing.paylinks import pay_url
from billing.pdf import invoice_pdf_attachment, statement_pdf_attachment
from billing.selectors import balance_due, invoice_practitioners
from billing.statements import statement_for
from billing.tokens import confirmation_token_for, token_for
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM
from opus.lib.money import format_day, format_money
from opus.mail import EmailKind
from opus.models import User
from scheduling.models import Subscription

logger = logging.getLogger(__name__)

CARD_REQUEST = "card_request"


def _card_request(row) -> PaymentCardRequest | None:
    pk = (row.context or {}).get("card_request_id")
    if not isinstance(pk, int):
        return None
    return (
        PaymentCardRequest.objects.select_related(
            "client", "relationship__practitioner", "created_by"
        )
        .filter(pk=pk)
        .first()
    )


def practitioner_name(card_request: PaymentCardRequest) -> str:
    """Who the email names: the relationship's practitioner, else the practitioner
    who asked, else the one who leads the client's current sessions."""

    relationship = card_request.relationship
    if relationship is not None and relationship.practitioner is not None:
        return relationship.practitioner.display_name
    asker = card_request.created_by
    if asker is not None and asker.role == User.Role.PRACTITIONER:
        return asker.display_name
    subscription = (
        Subscription.objects.covering(timezone.localdate())
        .filter(relationship__payer=card_request.client)
        .select_related("session__practitioner")
        .order_by("-first_date", "-pk")
        .first()
    ) or (
        Subscription.objects.filter(client=card_request.client)
        .select_related("session__practitioner")
        .order_by("-first_date", "-pk")
        .first()
    )
    return subscription.session.practitioner.display_name if subscription else ""


def card_request_context(row) -> dict | None:
    card_request = _card_request(row)
    if card_request is None or not card_request.is_live_at(timezone.now()):
        return None  # used, replaced or expired meanwhile: nothing to send
    token = token_for(card_request)
    if token is None:
        logger.warning("card request %s: no configured key rebuilds its link", card_request.pk)
        return None
    link = settings.OPUS_PUBLIC_URL.rstrip("/") + reverse("billing:card-link", args=[token])
    return {
        "first_name": card_request.client.first_name,
        "practitioner_name": practitioner_name(card_request),
        "reason": card_request.reason,
        "link": link,
        "expires_at": card_request.expires_at,
    }


def card_request_sent(row) -> None:
    card_request = _card_request(row)
    if card_request is None:
        return
    card_request.sent_at = row.sent_at
    card_request.provider_message_id = row.provider_message_id
    card_request.email_failed_at = None
    card_request.save(update_fields=["sent_at", "provider_message_id", "email_failed_at"])
    record_event(
        actor=SYSTEM,
        client=card_request.client,
        kind=ClientEvent.Kind.EMAIL_SENT,
        summary=f"Emailed the link to add a card to {row.to_address}",
    )


def card_request_failed(row) -> None:
    card_request = _card_request(row)
    if card_request is None:
        return
    card_request.email_failed_at = timezone.now()
    card_request.save(update_fields=["email_failed_at"])
    record_event(
        actor=SYSTEM,
        client=card_request.client,
        kind=ClientEvent.Kind.EMAIL_FAILED,
        summary=(
            f"The email with the link to add a card could not be delivered to "
            f"{row.to_address}. Check the address, then resend."
        ),
    )


CARD_REQUEST_EMAIL = EmailKind(
    context=card_request_context, on_sent=card_request_sent, on_failed=card_request_failed
)


# --- an issued invoice, emailed to its payer ("Enroll and Pay Later") ------------------------
INVOICE = "invoice"


def _invoice(row):

    pk = (row.context or {}).get("invoice_id")
    if not isinstance(pk, int):
        return None
    return Invoice.objects.select_related("payer").filter(pk=pk).first()


def invoice_context(row) -> dict | None:

    invoice = _invoice(row)
    if invoice is None or invoice.status != invoice.Status.OPEN:
        return None  # paid, voided or closed meanwhile: nothing to ask for
    return {
        "first_name": invoice.payer.first_name,
        "invoice": invoice,
        "lines": list(invoice.lines.all()),
        "balance": balance_due(invoice),
        "pay_link": pay_url(invoice),
    }


def invoice_sent(row) -> None:
    invoice = _invoice(row)
    if invoice is not None:
        record_event(
            actor=SYSTEM,
            client=invoice.payer,
            kind=ClientEvent.Kind.EMAIL_SENT,
            summary=f"Emailed invoice {invoice.display_number} to {row.to_address}",
            practitioners=invoice_practitioners(invoice),
        )


def invoice_failed(row) -> None:
    invoice = _invoice(row)
    if invoice is not None:
        record_event(
            actor=SYSTEM,
            client=invoice.payer,
            kind=ClientEvent.Kind.EMAIL_FAILED,
            summary=f"Invoice {invoice.display_number} could not be emailed to {row.to_address}",
            practitioners=invoice_practitioners(invoice),
        )


def invoice_attachments(row, context: dict) -> list[tuple[str, bytes, str]]:
    """The invoice as a PDF, made by the worker as it sends the email."""
    return [invoice_pdf_attachment(context["invoice"])]


INVOICE_EMAIL = EmailKind(
    context=invoice_context,
    on_sent=invoice_sent,
    on_failed=invoice_failed,
    attachments=invoice_attachments,
)


# --- a receipt for each payment ----------------------------------------------------------------
RECEIPT = "receipt"


def _payment(row) -> Payment | None:
    pk = (row.context or {}).get("payment_id")
    if not isinstance(pk, int):
        return None
    return Payment.objects.select_related("invoice__payer").filter(pk=pk).first()


def receipt_context(row) -> dict | None:
    payment = _payment(row)
    if payment is None:
        return None
    invoice = payment.invoice
    return {
        "first_name": invoice.payer.first_name,
        "payment": payment,
        "invoice": invoice,
        "balance": balance_due(invoice),
    }


def receipt_sent(row) -> None:
    payment = _payment(row)
    if payment is None:
        return
    InvoiceEvent.objects.create(
        invoice=payment.invoice,
        kind=InvoiceEvent.Kind.RECEIPT,
        summary=(
            f"Receipt for {format_money(payment.amount, payment.currency)} emailed to "
            f"{row.to_address}"
        ),
        at=row.sent_at or timezone.now(),
    )
    record_event(
        actor=SYSTEM,
        client=payment.invoice.payer,
        kind=ClientEvent.Kind.EMAIL_SENT,
        summary=f"Emailed a receipt for {payment.invoice.display_number} to {row.to_address}",
        practitioners=invoice_practitioners(payment.invoice),
    )


RECEIPT_EMAIL = EmailKind(context=receipt_context, on_sent=receipt_sent, on_failed=invoice_failed)


# --- an autopay declined: "pay or update your card" ----------------------------------------------
AUTOPAY_DECLINED = "autopay_declined"


def autopay_declined_context(row) -> dict | None:
    invoice = _invoice(row)
    if invoice is None or invoice.status != invoice.Status.OPEN:
        return None  # paid meanwhile: nothing to ask for
    next_at = (row.context or {}).get("next_attempt_at")
    return {
        "first_name": invoice.payer.first_name,
        "invoice": invoice,
        "balance": balance_due(invoice),
        "pay_link": pay_url(invoice),
        "next_attempt_on": (
            timezone.localdate(datetime.fromisoformat(next_at))
            if isinstance(next_at, str)
            else None
        ),
    }


def autopay_declined_sent(row) -> None:
    invoice = _invoice(row)
    if invoice is not None:
        record_event(
            actor=SYSTEM,
            client=invoice.payer,
            kind=ClientEvent.Kind.EMAIL_SENT,
            summary=(
                f"Emailed the link to pay {invoice.display_number} or update the card to "
                f"{row.to_address}"
            ),
            practitioners=invoice_practitioners(invoice),
        )


AUTOPAY_DECLINED_EMAIL = EmailKind(
    context=autopay_declined_context, on_sent=autopay_declined_sent, on_failed=invoice_failed
)


# --- the old payer, after the attendee's sessions moved to the attendee's own account ------------
MOVED_NOTICE = "moved_sessions_notice"


def moved_notice_context(row) -> dict | None:
    context = row.context or {}
    attendee_id = context.get("attendee_id")
    if not isinstance(attendee_id, int) or not row.client_id:
        return None
    attendee = Client.objects.filter(pk=attendee_id).first()
    if attendee is None:
        return None
    items = [item for item in context.get("items", []) if isinstance(item, dict)]
    invoices = Invoice.objects.in_bulk([item.get("invoice_id") for item in items])
    changes = []
    for item in items:
        invoice = invoices.get(item.get("invoice_id"))
        if invoice is None:
            continue
        paid_back = Decimal(item.get("refund") or 0)
        refunded = min(Decimal(item.get("refunded") or 0), paid_back)
        changes.append(
            {
                "invoice": invoice,
                "credited": Decimal(item.get("credited") or 0),
                "refunded": refunded,
                "kept": paid_back - refunded,  # on their account, for their next invoices
            }
        )
    return {
        "first_name": row.client.first_name,
        "attendee_name": attendee.first_name,
        "changes": changes,
    }


def moved_notice_sent(row) -> None:
    if row.client_id:
        record_event(
            actor=SYSTEM,
            client=row.client,
            kind=ClientEvent.Kind.EMAIL_SENT,
            summary=f"Emailed what the rebooking changed for them to {row.to_address}",
        )


MOVED_NOTICE_EMAIL = EmailKind(context=moved_notice_context, on_sent=moved_notice_sent)


# --- a reminder of an open invoice --------------------------------------------------------------
REMINDER = "invoice_reminder"


def reminder_context(row) -> dict | None:
    invoice = _invoice(row)
    if invoice is None or invoice.status != invoice.Status.OPEN:
        return None  # paid, voided or closed meanwhile: no reminder
    step = (row.context or {}).get("step")
    return {
        "first_name": invoice.payer.first_name,
        "invoice": invoice,
        "balance": balance_due(invoice),
        "pay_link": pay_url(invoice),
        "overdue": isinstance(step, int) and step > 0,
    }


def reminder_sent(row) -> None:
    invoice = _invoice(row)
    if invoice is not None:
        record_event(
            actor=SYSTEM,
            client=invoice.payer,
            kind=ClientEvent.Kind.EMAIL_SENT,
            summary=f"Emailed a reminder of {invoice.display_number} to {row.to_address}",
            practitioners=invoice_practitioners(invoice),
        )


REMINDER_EMAIL = EmailKind(
    context=reminder_context, on_sent=reminder_sent, on_failed=invoice_failed
)


# --- a charge the payer's bank asks them to confirm (3-D Secure) -----------------------------
PAYMENT_CONFIRMATION = "payment_confirmation"


def _confirmation(row) -> PaymentConfirmation | None:
    pk = (row.context or {}).get("attempt_id")
    if not isinstance(pk, int):
        return None
    return (
        PaymentConfirmation.objects.select_related(
            "attempt__invoice__payer", "attempt__payment_method"
        )
        .filter(attempt_id=pk)
        .first()
    )


def payment_confirmation_context(row) -> dict | None:
    confirmation = _confirmation(row)
    if confirmation is None or not confirmation.is_live_at(timezone.now()):
        return None  # confirmed, refused or expired meanwhile: nothing to ask
    token = confirmation_token_for(confirmation)
    if token is None:
        return None
    attempt = confirmation.attempt
    link = settings.OPUS_PUBLIC_URL.rstrip("/") + reverse("billing:payment-confirm", args=[token])
    return {
        "first_name": attempt.invoice.payer.first_name,
        "amount": format_money(attempt.amount, attempt.currency),
        "invoice_number": attempt.invoice.display_number,
        "card": f"{attempt.payment_method.brand.title()} ending {attempt.payment_method.last4}",
        "link": link,
        "expires_at": confirmation.expires_at,
    }


def _confirmation_history(row, summary: str, kind: str) -> None:
    confirmation = _confirmation(row)
    if confirmation is not None:
        record_event(
            actor=SYSTEM,
            client=confirmation.attempt.invoice.payer,
            kind=kind,
            summary=summary,
        )


def payment_confirmation_sent(row) -> None:
    _confirmation_history(
        row,
        f"Emailed the link to confirm a card payment to {row.to_address}",
        ClientEvent.Kind.EMAIL_SENT,
    )


def payment_confirmation_failed(row) -> None:
    _confirmation_history(
        row,
        f"The link to confirm a card payment could not be emailed to {row.to_address}",
        ClientEvent.Kind.EMAIL_FAILED,
    )


PAYMENT_CONFIRMATION_EMAIL = EmailKind(
    context=payment_confirmation_context,
    on_sent=payment_confirmation_sent,
    on_failed=payment_confirmation_failed,
)


# --- a payer's statement, emailed on request ---------------------------------------------------
STATEMENT = "statement"


def statement_context(row) -> dict | None:
    """The statement as it stands when the worker sends it (the same date range)."""
    from_ctx = row.context or {}
    pk = from_ctx.get("client_id")
    try:
        start = date.fromisoformat(from_ctx.get("start", ""))
        end = date.fromisoformat(from_ctx.get("end", ""))
    except (TypeError, ValueError):
        return None
    payer = Client.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    if payer is None:
        return None
    return {
        "first_name": payer.first_name,
        "statement": statement_for(payer=payer, start=start, end=end),
    }


def statement_sent(row) -> None:
    context = statement_context(row)
    if context is not None:
        statement = context["statement"]
        record_event(
            actor=SYSTEM,
            client=statement.payer,
            kind=ClientEvent.Kind.EMAIL_SENT,
            summary=(
                f"Emailed a statement ({format_day(statement.start)} to "
                f"{format_day(statement.end)}) to {row.to_address}"
            ),
        )


def statement_failed(row) -> None:
    client_id = (row.context or {}).get("client_id")
    payer = Client.objects.filter(pk=client_id).first() if client_id else None
    if payer is not None:
        record_event(
            actor=SYSTEM,
            client=payer,
            kind=ClientEvent.Kind.EMAIL_FAILED,
            summary=f"A statement could not be emailed to {row.to_address}",
        )


def statement_attachments(row, context: dict) -> list[tuple[str, bytes, str]]:
    """The statement as a PDF, made by the worker as it sends the email."""
    return [statement_pdf_attachment(context["statement"])]


STATEMENT_EMAIL = EmailKind(
    context=statement_context,
    on_sent=statement_sent,
    on_failed=statement_failed,
    attachments=statement_attachments,
)
