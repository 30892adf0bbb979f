"""Import jobs for the route walks (object matrix, fuzz, shared clients)."""

from frontdesk.models import ImportJob
from tests.factories import UserFactory

CLEAN = "external_id,first_name,last_name,email\nW-1,Walk,Er,walker@example.com\n"


def import_job(*, status=ImportJob.Status.CHECKED, created_by=None, errors=()) -> ImportJob:
    return ImportJob.objects.create(
        kind=ImportJob.Kind.CLIENTS,
        filename="clients.csv",
        content=CLEAN,
        total_rows=1,
        processed_rows=1,
        status=status,
        counts={"created": 1, "updated": 0, "unchanged": 0, "refused": len(errors)},
        errors=list(errors),
        created_by=created_by or UserFactory(role="staff"),
    )
