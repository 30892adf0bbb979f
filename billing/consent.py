"""What a payer agrees to when they save a card through a link: what will be
charged, when, and how to cancel, from the practice's settings. The text shown
is stored with the card, with its version (a digest of the text: any change of
the settings that shape it is a new version), the time and the payer."""

from __future__ import annotations

import hashlib

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
