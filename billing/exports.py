"""Invoices and payments as CSV, for the practice's accountant (staff only). Both
take the invoice list's filters: the payments are those of the listed invoices."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.views.decorators.http import require_GET

from billing import selectors
from billing.forms import InvoiceFilterForm
from billing.models import Invoice, Payment
from billing.permissions import can_manage_billing
from opus.lib.csvexport import CHUNK_SIZE, amount, csv_download, dated_filename

INVOICE_HEADER = [
    "Invoice",
    "Status",
    "Payer ID",
    "Payer",
    "Issued on",
    "Due on",
    "Currency",
    "Total",
    "Paid",
    "Balance due",
    "Reason (void or closed)",
]
PAYMENT_HEADER = [
    "Payment ID",
    "Received at",
    "Invoice",
    "Payer ID",
    "Payer",
    "Method",
    "Reference",
    "Currency",
    "Amount",
]
STATUS = dict(Invoice.Status.choices)
METHOD = dict(Payment.Method.choices)


def _listed_invoices(request):
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can export invoices and payments.")
    form = InvoiceFilterForm(request.GET or None)
    return selectors.invoice_list(request.user, form.filters())


def _number(number: int | None, pk: int) -> str:
    return Invoice(number=number, pk=pk).display_number


@require_GET
def invoice_export(request):
    invoices = _listed_invoices(request).values_list(
        "pk",
        "number",
        "status",
        "payer_id",
        "payer__first_name",
        "payer__last_name",
        "issued_on",
        "due_on",
        "currency",
        "total",
        "paid_amount",
        "balance",
        "void_reason",
        "close_reason",
    )
    rows = (
        (
            _number(number, pk),
            STATUS.get(status, status),
            payer_id,
            f"{first} {last}",
            issued_on,
            due_on,
            currency,
            amount(total, currency),
            amount(paid, currency),
            amount(balance, currency),
            void_reason or close_reason,
        )
        for (
            pk,
            number,
            status,
            payer_id,
            first,
            last,
            issued_on,
            due_on,
            currency,
            total,
            paid,
            balance,
            void_reason,
            close_reason,
        ) in invoices.iterator(chunk_size=CHUNK_SIZE)
    )
    return csv_download(dated_filename("invoices"), INVOICE_HEADER, rows)


@require_GET
def payment_export(request):
    invoice_ids = _listed_invoices(request).order_by().values("pk")
    payments = (
        Payment.objects.filter(invoice_id__in=invoice_ids)
        .order_by("received_at", "pk")
        .values_list(
            "pk",
            "received_at",
            "invoice_id",
            "invoice__number",
            "invoice__payer_id",
            "invoice__payer__first_name",
            "invoice__payer__last_name",
            "method",
            "reference",
            "currency",
            "amount",
        )
    )
    rows = (
        (
            pk,
            received_at,
            _number(number, invoice_id),
            payer_id,
            f"{first} {last}",
            METHOD.get(method, method),
            reference,
            currency,
            amount(value, currency),
        )
        for (
            pk,
            received_at,
            invoice_id,
            number,
            payer_id,
            first,
            last,
            method,
            reference,
            currency,
            value,
        ) in payments.iterator(chunk_size=CHUNK_SIZE)
    )
    return csv_download(dated_filename("payments"), PAYMENT_HEADER, rows)
