"""An invoice as a PDF (WeasyPrint): the printable invoice with the practice's name,
address, contact, tax number, payment instructions and footer (Practice settings),
money and dates in the practice's locale.

``invoice_pdf`` renders; the invoice page's "Download PDF" link serves it, and the
invoice email attaches it through ``invoice_pdf_attachment``, called by the outbox
when the worker sends the email (opus.services.send_outbound), never in a request.
"""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from billing import selectors
from billing.models import Invoice
from billing.plans import invoice_totals
from billing.statements import Statement
from opus import practice as practices

STYLESHEET = "css/invoice-pdf.css"
MIMETYPE = "application/pdf"


def invoice_filename(invoice: Invoice) -> str:
    return f"{invoice.display_number.replace(' ', '-').replace('#', '')}.pdf"


def invoice_html(invoice: Invoice) -> str:
    lines = list(invoice.lines.all())
    return render_to_string(
        "billing/invoice_pdf.html",
        {
            "invoice": invoice,
            "lines": lines,
            "totals": invoice_totals(lines),
            "paid": selectors.amount_paid(invoice),
            "balance": selectors.balance_due(invoice),
            "practice": practices.current(),
        },
    )


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF bytes (about a tenth of a second once WeasyPrint is loaded)."""
    # WeasyPrint (and its Pango) loads only where a PDF is made: the worker, the download
    import weasyprint

    stylesheet = weasyprint.CSS(filename=finders.find(STYLESHEET))
    return weasyprint.HTML(string=invoice_html(invoice)).write_pdf(stylesheets=[stylesheet])


def invoice_pdf_attachment(invoice: Invoice) -> tuple[str, bytes, str]:
    """(filename, content, mimetype): what ``EmailMessage.attach`` takes."""
    return invoice_filename(invoice), invoice_pdf(invoice), MIMETYPE


# --- a payer's statement -------------------------------------------------------------------------


def statement_filename(statement: Statement) -> str:
    return f"statement-{statement.payer.pk}-{statement.start:%Y%m%d}-{statement.end:%Y%m%d}.pdf"


def statement_html(statement: Statement) -> str:
    return render_to_string(
        "billing/statement_pdf.html",
        {"statement": statement, "payer": statement.payer, "practice": practices.current()},
    )


def statement_pdf(statement: Statement) -> bytes:
    """The statement as PDF bytes, in the invoice's style."""
    import weasyprint

    stylesheet = weasyprint.CSS(filename=finders.find(STYLESHEET))
    return weasyprint.HTML(string=statement_html(statement)).write_pdf(stylesheets=[stylesheet])


def statement_pdf_attachment(statement: Statement) -> tuple[str, bytes, str]:
    return statement_filename(statement), statement_pdf(statement), MIMETYPE
