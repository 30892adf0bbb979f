"""Importing clients and relationships from CSV (frontdesk.imports): the dry run, the
import, a second run of the same file, and the files refused as a whole."""

from datetime import time, timedelta

import pytest
from django.core.exceptions import PermissionDenied

from clients.models import Client, ClientEvent
from frontdesk import imports
from frontdesk.models import ImportJob
from relationships.models import Relationship
from scheduling.models import Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    ServiceFactory,
    SessionFactory,
    UserFactory,
    coming_date,
)

pytestmark = pytest.mark.django_db

CLIENTS = (
    "external_id,first_name,last_name,email,phone,date_of_birth,address,notes\n"
    "A-1,Maria,Lopez,maria@example.com,'+44 20 7946 0958,1985-03-14,"
    '"1 High Street\nLondon N1 1AA",\n'
    "A-2,Leo,Lopez,,,2015-06-02,,Maria's son\n"
    ",Nina,Park,nina@example.com,,,,\n"
)


def start(text, actor, kind="clients"):
    return imports.start_import(
        kind=kind, filename=f"{kind}.csv", data=text.encode("utf-8"), actor=actor
    )


def imported(text, actor, kind="clients"):
    job = start(text, actor, kind)
    assert job.status == "checked", job.errors
    assert job.errors == []
    return imports.confirm_import(job=job, actor=actor)


def test_the_dry_run_says_what_would_happen_and_writes_nothing(staff):
    ClientFactory(first_name="Nina", last_name="Park", email="NINA@example.com", phone="")
    before = Client.objects.count()
    job = start(CLIENTS, staff)
    assert job.status == "checked"
    assert job.counts == {"created": 2, "updated": 1, "unchanged": 0, "refused": 0}
    assert job.processed_rows == job.total_rows == 3
    assert Client.objects.count() == before


def test_every_refused_row_is_named_by_its_line(staff):
    text = (
        "external_id,first_name,last_name,email,address\n"
        'A-1,Maria,Lopez,maria@example.com,"two\nlines"\n'  # lines 2 and 3
        "A-2,Leo,Lopez,not-an-email,\n"  # line 4
        "A-3,,Lopez,x@example.com,\n"  # line 5
        "A-1,Again,Lopez,,\n"  # line 6
        ",No,Key,,\n"  # line 7
    )
    job = start(text, staff)
    assert [e["line"] for e in job.errors] == [4, 5, 6, 7]
    messages = [e["message"] for e in job.errors]
    assert "valid email" in messages[0]
    assert "first name" in messages[1].lower()
    assert "same external_id as line 2" in messages[2]
    assert "external_id or an email" in messages[3]
    with pytest.raises(imports.BusinessRuleError, match="Correct the rows"):
        imports.confirm_import(job=job, actor=staff)
    assert not Client.objects.exists()


def test_import_creates_and_a_second_run_creates_nothing(staff):
    job = imported(CLIENTS, staff)
    assert job.status == "done"
    assert job.counts["created"] == 3
    maria = Client.objects.get(external_id="A-1")
    assert maria.phone == "+44 20 7946 0958"  # the export's apostrophe taken off
    assert maria.address == "1 High Street\nLondon N1 1AA"
    assert ClientEvent.objects.filter(client=maria, kind="created").count() == 1

    again = imported(CLIENTS, staff)
    assert again.counts == {"created": 0, "updated": 0, "unchanged": 3, "refused": 0}
    assert Client.objects.count() == 3


def test_a_changed_cell_updates_with_history_and_a_blank_one_erases_nothing(staff):
    imported(CLIENTS, staff)
    changed = CLIENTS.replace("'+44 20 7946 0958", "07700 900123").replace("maria@example.com", "")
    job = imported(changed, staff)
    assert job.counts["updated"] == 1
    maria = Client.objects.get(external_id="A-1")
    assert maria.phone == "07700 900123"
    assert maria.email == "maria@example.com"
    assert ClientEvent.objects.filter(client=maria, summary__icontains="phone").exists()


def test_a_client_found_by_email_gets_the_external_id(staff):
    nina = ClientFactory(first_name="Nina", last_name="Park", email="nina@example.com")
    imported("external_id,first_name,last_name,email\nB-9,Nina,Park,Nina@Example.com\n", staff)
    nina.refresh_from_db()
    assert nina.external_id == "B-9"
    assert Client.objects.count() == 1


def test_each_row_is_its_own_transaction(staff):
    """A row refused at import time (two clients now share its email) is listed; the
    others are in, and the file imported again after the fix adds only what is missing."""
    job = start(CLIENTS, staff)
    ClientFactory(email="nina@example.com")
    ClientFactory(email="nina@example.com")
    job = imports.confirm_import(job=job, actor=staff)
    assert job.status == "done"
    assert job.counts["created"] == 2
    assert job.errors == [{"line": 5, "message": job.errors[0]["message"]}]
    assert "2 clients in Opus have the email nina@example.com" in job.errors[0]["message"]
    Client.objects.filter(email="nina@example.com").first().delete()
    again = imported(CLIENTS, staff)
    assert again.counts == {"created": 0, "updated": 1, "unchanged": 2, "refused": 0}


def test_confirming_twice_imports_once(staff):
    job = start(CLIENTS, staff)
    imports.confirm_import(job=job, actor=staff)
    imports.confirm_import(job=job, actor=staff)
    assert Client.objects.count() == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("first_name,last_name\n".encode("utf-16"), "not UTF-8"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"first_name,last_name\nA\x00,B\n", "binary"),
        (b"", "empty"),
        (b"first_name,last_name\n", "no rows"),
        (b"name,surname\nA,B\n", "Unknown columns: name, surname"),
        (b"first_name,email\nA,a@x.com\n", "missing: last_name"),
        (b"first_name,last_name,last_name\nA,B,C\n", "named twice"),
        (b"x" * (imports.MAX_BYTES + 1), "the limit is 5 MB"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_a_reason(staff, data, message):
    with pytest.raises(imports.ImportRefused, match=message):
        imports.start_import(kind="clients", filename="x.csv", data=data, actor=staff)
    assert not ImportJob.objects.exists()


def test_a_practitioner_may_not_import(therapist):
    with pytest.raises(PermissionDenied):
        start(CLIENTS, therapist)


RELATIONSHIPS = (
    "attendee,payer,practitioner\nA-1,self,\nA-2,maria@example.com,\nnina@example.com,,ella\n"
)


def test_relationships_by_external_id_email_and_username(staff):
    ella = UserFactory(username="ella", role="practitioner")
    imported(CLIENTS, staff)
    job = imported(RELATIONSHIPS, staff, kind="relationships")
    assert job.counts == {"created": 3, "updated": 0, "unchanged": 0, "refused": 0}
    maria, leo = Client.objects.get(external_id="A-1"), Client.objects.get(external_id="A-2")
    assert Relationship.objects.get(attendee=maria).kind == "first_party"
    assert Relationship.objects.get(attendee=leo).payer == maria
    assert Relationship.objects.get(attendee__email="nina@example.com").practitioner == ella
    again = imported(RELATIONSHIPS, staff, kind="relationships")
    assert again.counts["unchanged"] == 3
    assert Relationship.objects.count() == 3


def test_relationship_rows_naming_nobody_are_refused(staff):
    imported(CLIENTS, staff)
    job = start(
        "attendee,payer,practitioner\nZ-9,,\nA-2,A-2,nobody\nA-1,self,\nA-1,,\n",
        staff,
        kind="relationships",
    )
    assert [(e["line"], e["message"][:30]) for e in job.errors] == [
        (2, "attendee: no client has the ex"),
        (3, "practitioner: no active practi"),
        (5, "The same relationship as line "),
    ]


def test_an_unexpected_error_fails_the_job_readably(staff, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("bug")

    job = start(CLIENTS, staff)
    monkeypatch.setattr(imports, "create_client", broken)
    job = imports.confirm_import(job=job, actor=staff)
    assert job.status == "failed"
    assert job.errors[-1]["message"] == imports.FAILED
    assert not job.running  # the page stops polling


def test_a_client_made_by_a_racing_import_is_refused_not_crashed(staff, monkeypatch):
    job = start(CLIENTS, staff)

    def raced(**kwargs):
        raise imports.IntegrityError("duplicate key")

    monkeypatch.setattr(imports, "create_client", raced)
    job = imports.confirm_import(job=job, actor=staff)
    assert job.status == "done"
    assert [e["message"] for e in job.errors] == [imports.RACED] * 3


def test_enrolments_by_service_weekday_and_time(staff):
    piano = ServiceFactory(name="Piano, 30 min private")
    session = SessionFactory(service=piano, weekday=2, start_time=time(16, 0), capacity=3)
    first = coming_date(session)
    generate_session_dates(session=session, until=first.date + timedelta(weeks=8))
    imported(CLIENTS, staff)
    imported(RELATIONSHIPS.replace(",ella", ","), staff, kind="relationships")
    text = (
        "client,service,weekday,start_time,first_date,payer\n"
        f"A-2,piano, 30 min private,Wednesday,16:00,{first.date},maria@example.com\n"
    ).replace("piano, 30 min private", '"piano, 30 min private"')
    job = imported(text, staff, kind="enrolments")
    assert job.counts == {"created": 1, "updated": 0, "unchanged": 0, "refused": 0}
    subscription = Subscription.objects.get()
    assert subscription.client.external_id == "A-2"
    assert subscription.relationship.payer.external_id == "A-1"
    assert subscription.first_date == first.date
    again = imported(text, staff, kind="enrolments")
    assert again.counts["unchanged"] == 1 and Subscription.objects.count() == 1

    refused = start(
        "client,service,weekday,start_time,first_date,payer\n"
        f"A-2,Guitar,Wednesday,16:00,{first.date},\n"
        f'A-2,"Piano, 30 min private",Someday,16:00,{first.date},\n'
        f'A-1,"Piano, 30 min private",Wed,16:00,{first.date},A-2\n',
        staff,
        kind="enrolments",
    )
    assert [(e["line"], e["message"][:20]) for e in refused.errors] == [
        (2, "No session of Guitar"),
        (3, "weekday: write the d"),
        (4, "No active relationsh"),
    ]
