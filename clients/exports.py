"""Clients as CSV, for the practice's accountant (staff only)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.views.decorators.http import require_GET

from clients.selectors import DEFAULT_SORT, MAX_QUERY_LENGTH, SORTS, search_clients
from opus.lib.csvexport import CHUNK_SIZE, csv_download, dated_filename

HEADER = [
    "Client ID",
    "First name",
    "Last name",
    "Email",
    "Phone",
    "Date of birth",
    "Postal address",
    "Created",
]
COLUMNS = (
    "pk",
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address",
    "created_at",
)


@require_GET
def client_export(request):
    """The clients list's search and sort applied, every match (no pages)."""
    if not request.user.is_practice_staff:
        raise PermissionDenied("Only staff can export clients.")
    q = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    sort = request.GET.get("sort", DEFAULT_SORT)
    sort = sort if sort in SORTS else DEFAULT_SORT
    rows = (
        search_clients(request.user, q=q, sort=sort)
        .values_list(*COLUMNS)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return csv_download(dated_filename("clients"), HEADER, rows)
