"""What a payer agrees to when they save a card through a link (the card link,
or an invoice's pay link with "save my card"): what will be charged, when, and
how to cancel, from the practice's settings. Both pages show ``consent_text()``;
the text shown is stored with the card (``PaymentMethod.consent_*``), with its
version (a digest of the text: any change of the settings that shape it is a new
version) and the time; the payer is the card's client."""

from __future__ import annotations

import hashlib

from django.utils import timezone

from opus import practice as practices


def consent_text() -> str:
    practice = practices.current()
    contact = " or ".join(part for part in (practice.email, practice.phone) if part)
    late = []
    if practice.charge_late_cancellations:
        late.append(f"late cancellations (less than {practice.cancel_notice_hours} hours' notice)")
    if practice.charge_no_shows:
        late.append("missed sessions")
    extra = f", including {' and '.join(late)} as its policy sets" if late else ""
    return (
        f"By saving this card you authorise {practice.name} to charge it for the invoices of "
        f"your lessons or sessions{extra}. Each charge is for an invoice emailed to you "
        f"first, and is made on or after its due date ({practice.invoice_due_days} days after "
        f"the invoice). To cancel, ask {practice.name}"
        + (f" ({contact})" if contact else "")
        + " to remove the card: nothing is charged to it after that."
    )


def consent_version(text: str) -> str:
    return "v1-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def consent_given() -> dict:
    """The consent fields of a card saved now (``PaymentMethod``'s consent_text,
    consent_version and consented_at): the text the page showed, its version, the
    time. The one place both card-saving paths (the card link, the pay link with
    "save my card") take them from."""
    text = consent_text()
    return {
        "consent_text": text,
        "consent_version": consent_version(text),
        "consented_at": timezone.now(),
    }
