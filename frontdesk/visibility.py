"""What the front desk's records add to who sees what (see ``opus.lib.visibility``)."""

from django.db.models import Exists, OuterRef

from billing.selectors import register_invoice_practitioners
from frontdesk.models import Transfer
from opus.lib import visibility


def no_transfer_out_of_anothers_session(user):
    """An invoice settling a transfer carries a credit that names the session left:
    when that session is another practitioner's, the invoice is staff's alone."""
    return ~Exists(
        Transfer.objects.filter(invoice_id=OuterRef("pk")).exclude(
            from_subscription__session__practitioner=user
        )
    )


def practitioners_left_by_transfers(invoice_id: int) -> list[int]:
    return list(
        Transfer.objects.filter(invoice_id=invoice_id).values_list(
            "from_subscription__session__practitioner_id", flat=True
        )
    )


def register() -> None:
    visibility.narrow("billing.Invoice", no_transfer_out_of_anothers_session)
    register_invoice_practitioners(practitioners_left_by_transfers)
