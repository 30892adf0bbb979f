"""The pay link of an issued invoice: made once per invoice, its token re-derived
from the row by whoever emails it (billing/tokens.py)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from billing.models import Invoice, InvoicePayLink
from billing.tokens import derive_pay_token, hash_token, new_nonce, pay_token_for


def new_pay_link(invoice: Invoice) -> InvoicePayLink:
    """The link of an invoice being issued (it has none yet): one insert."""
    nonce = new_nonce()
    return InvoicePayLink.objects.create(
        invoice=invoice, nonce=nonce, token_hash=hash_token(derive_pay_token(nonce))
    )


def ensure_pay_link(invoice: Invoice) -> InvoicePayLink:
    link = InvoicePayLink.objects.filter(invoice_id=invoice.pk).first()
    if link is not None:
        return link
    nonce = new_nonce()
    link, _ = InvoicePayLink.objects.get_or_create(
        invoice_id=invoice.pk,
        defaults={"nonce": nonce, "token_hash": hash_token(derive_pay_token(nonce))},
    )
    return link


def pay_url(invoice: Invoice) -> str | None:
    """The absolute address of the invoice's pay page (None: no key rebuilds it)."""
    token = pay_token_for(ensure_pay_link(invoice))
    if token is None:
        return None
    return settings.OPUS_PUBLIC_URL.rstrip("/") + reverse("billing:pay-link", args=[token])
