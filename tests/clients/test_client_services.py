"""Adding, archiving, restoring and deleting clients; who pays on "Add client";
the duplicate checks; one rule per field in every client form (issue 11, Clients)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from clients.fields import clean_details
from clients.forms import ClientForm
from clients.models import Client, ClientEvent
from clients.selectors import possible_duplicates, search_clients
from clients.services import PossibleDuplicates, archive_client, create_client, restore_client
from frontdesk.client_flows import delete_client
from frontdesk.relationship_forms import PayingDetailsForm
from opus.lib.errors import BusinessRuleError
from relationships.models import Relationship, RelationshipQuerySet
from relationships.services import WhoPays, add_client, add_relationship, create_relationship
from tests.factories import ClientFactory, InvoiceFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

BAD_PHONE = "call me maybe"


def kinds(client) -> list[str]:
    return list(ClientEvent.objects.filter(client=client).values_list("kind", flat=True))


# --- one rule per field ----------------------------------------------------------------------
def test_the_same_bad_phone_gets_the_same_message_in_every_client_form():
    add = ClientForm({"first_name": "Ava", "last_name": "Adams", "phone": BAD_PHONE})
    migration = PayingDetailsForm({"phone": BAD_PHONE}, missing=["phone"])
    assert not add.is_valid() and not migration.is_valid()
    assert add.errors["phone"] == migration.errors["phone"]
    with pytest.raises(BusinessRuleError) as refused:
        clean_details({"phone": BAD_PHONE})
    assert [refused.value.message] == add.errors["phone"]
    assert refused.value.field == "phone"


def test_the_migration_form_is_the_client_form_with_only_the_missing_fields_required():
    form = PayingDetailsForm({}, missing=["email", "address"])
    assert isinstance(form, ClientForm)
    assert set(form.fields) == {"email", "address"}
    assert not form.is_valid() and set(form.errors) == {"email", "address"}


# --- creating --------------------------------------------------------------------------------
def test_staff_add_a_client_with_a_history_row(staff):
    client = create_client(
        data={"first_name": " Ava ", "last_name": "Adams", "email": "AVA@example.com"}, actor=staff
    )
    assert (client.first_name, client.email) == ("Ava", "AVA@example.com")
    assert kinds(client) == ["created"]


def test_a_bad_detail_is_refused_by_its_field(staff):
    with pytest.raises(BusinessRuleError) as refused:
        create_client(data={"first_name": "Ava", "last_name": "Adams", "phone": "x"}, actor=staff)
    assert refused.value.field == "phone"
    with pytest.raises(BusinessRuleError) as refused:
        future = timezone.localdate() + timedelta(days=400)
        create_client(
            data={"first_name": "Ava", "last_name": "Adams", "date_of_birth": future}, actor=staff
        )
    assert refused.value.field == "date_of_birth"
    assert not Client.objects.exists()


def test_a_practitioner_may_not_add_a_client(therapist):
    with pytest.raises(PermissionDenied):
        create_client(data={"first_name": "Ava", "last_name": "Adams"}, actor=therapist)
    assert not Client.objects.exists()


def test_the_same_email_in_another_case_is_a_possible_duplicate(staff):
    existing = ClientFactory(email="Olivia.Adams@Example.com")
    with pytest.raises(PossibleDuplicates) as refused:
        create_client(
            data={"first_name": "Liv", "last_name": "A", "email": "olivia.adams@example.COM"},
            actor=staff,
        )
    assert refused.value.duplicates == [existing]
    assert Client.objects.count() == 1
    created = create_client(
        data={"first_name": "Liv", "last_name": "A", "email": "olivia.adams@example.com"},
        actor=staff,
        allow_duplicates=True,
    )
    assert created.pk != existing.pk


def test_the_same_name_and_date_of_birth_is_a_possible_duplicate(staff):
    existing = ClientFactory(first_name="Ava", last_name="Adams", date_of_birth=date(2015, 3, 1))
    same = {"first_name": "AVA", "last_name": "adams", "date_of_birth": date(2015, 3, 1)}
    assert list(possible_duplicates(same)) == [existing]
    other_day = {**same, "date_of_birth": date(2015, 3, 2)}
    assert not possible_duplicates(other_day)
    assert not possible_duplicates({"first_name": "Ava", "last_name": "Adams"})


# --- who pays --------------------------------------------------------------------------------
def test_a_client_who_pays_for_themselves_gets_a_first_party_relationship(staff):
    relationship = add_client(
        details={"first_name": "Ava", "last_name": "Adams"}, who=WhoPays(), actor=staff
    )
    assert relationship.kind == Relationship.Kind.FIRST_PARTY
    assert relationship.payer_id == relationship.attendee_id
    assert kinds(relationship.attendee) == ["relationship", "created"]


def test_a_child_whose_new_parent_pays_gets_both_clients_and_a_third_party_relationship(
    staff, therapist
):
    relationship = add_client(
        details={"first_name": "Lily", "last_name": "Adams", "date_of_birth": date(2016, 5, 4)},
        who=WhoPays(
            self_pays=False,
            organiser_details={
                "first_name": "Helen",
                "last_name": "Adams",
                "email": "helen@example.com",
            },
            practitioner=therapist,
        ),
        actor=staff,
    )
    assert relationship.kind == Relationship.Kind.THIRD_PARTY
    assert relationship.payer.full_name == "Helen Adams"
    assert relationship.practitioner == therapist
    assert kinds(relationship.payer) == ["relationship", "created"]


def test_a_new_organiser_like_an_existing_client_is_refused_and_nothing_is_created(staff):
    ClientFactory(email="helen@example.com")
    who = WhoPays(
        self_pays=False,
        organiser_details={"first_name": "H", "last_name": "A", "email": "HELEN@example.com"},
    )
    with pytest.raises(PossibleDuplicates) as refused:
        add_client(details={"first_name": "Lily", "last_name": "Adams"}, who=who, actor=staff)
    assert refused.value.field == "organiser_email"
    assert Client.objects.count() == 1  # the child was not kept either: all or nothing


def test_a_second_active_relationship_for_the_same_parties_is_refused_with_a_sentence(staff):
    parent, child = ClientFactory(first_name="Helen"), ClientFactory(first_name="Lily")
    create_relationship(payer=parent, attendee=child, actor=staff)
    with pytest.raises(BusinessRuleError) as refused:
        add_relationship(
            attendee=child, who=WhoPays(self_pays=False, organiser=parent), actor=staff
        )
    assert refused.value.message == (
        f"{parent.full_name} already has an active relationship with {child.full_name} "
        "for sessions with any practitioner."
    )
    assert Relationship.objects.count() == 1


def test_the_database_refuses_a_second_active_relationship_too(staff):
    first = RelationshipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Relationship.objects.create(
            kind=first.kind, payer=first.payer, attendee=first.attendee, started_on=first.started_on
        )


def test_an_organiser_is_someone_else(staff):
    child = ClientFactory()
    with pytest.raises(BusinessRuleError) as refused:
        add_relationship(attendee=child, who=WhoPays(self_pays=False, organiser=child), actor=staff)
    assert refused.value.field == "organiser"


# --- archive, restore, delete ----------------------------------------------------------------
def test_an_archived_client_leaves_search_and_comes_back_when_restored(staff):
    client = ClientFactory(last_name="Zephyr")
    assert archive_client(client=client, actor=staff) is True
    assert archive_client(client=client, actor=staff) is False  # a double click: nothing more
    assert not search_clients(staff, q="Zephyr").exists()
    assert not search_clients(staff).filter(pk=client.pk).exists()
    client.refresh_from_db()
    assert client.archived_by == staff
    assert restore_client(client=client, actor=staff) is True
    assert search_clients(staff, q="Zephyr").get() == client
    assert kinds(client) == ["restored", "archived"]


def test_an_archived_client_keeps_invoices_and_gets_no_new_relationship(staff):
    client = ClientFactory()
    invoice = InvoiceFactory(payer=client)
    archive_client(client=client, actor=staff)
    assert Client.objects.get(pk=client.pk).invoices.get() == invoice
    with pytest.raises(BusinessRuleError, match="archived"):
        create_relationship(payer=client, attendee=client, actor=staff)


def test_a_practitioner_may_not_archive(therapist):
    client = ClientFactory()
    with pytest.raises(PermissionDenied):
        archive_client(client=client, actor=therapist)
    assert Client.objects.get(pk=client.pk).archived_at is None


def test_a_client_added_by_mistake_is_deleted_with_their_unused_relationship(staff):
    relationship = add_client(
        details={"first_name": "Oops", "last_name": "Typo"}, who=WhoPays(), actor=staff
    )
    assert delete_client(client=relationship.attendee, actor=staff) == "Oops Typo"
    assert not Client.objects.exists() and not Relationship.objects.exists()


def test_a_client_with_money_is_never_deleted(staff):
    client = ClientFactory()
    InvoiceFactory(payer=client)
    with pytest.raises(BusinessRuleError, match="Archive them instead"):
        delete_client(client=client, actor=staff)
    assert Client.objects.filter(pk=client.pk).exists()


def test_a_client_with_history_is_never_deleted(staff):
    client = ClientFactory()
    ClientEvent.objects.create(client=client, kind=ClientEvent.Kind.BOOKED, summary="Booked")
    with pytest.raises(BusinessRuleError, match="Archive them instead"):
        delete_client(client=client, actor=staff)
    assert Client.objects.filter(pk=client.pk).exists()


def test_a_parent_paying_for_a_child_is_not_deleted_with_two_relationships(staff):
    parent = ClientFactory()
    RelationshipFactory(payer=parent, attendee=ClientFactory())
    RelationshipFactory(payer=parent, attendee=ClientFactory())
    with pytest.raises(BusinessRuleError, match="Archive them instead"):
        delete_client(client=parent, actor=staff)


def test_a_relationship_made_meanwhile_is_refused_with_the_same_sentence(staff, monkeypatch):
    """The check under the lock can miss a row another request committed: the
    database's constraint refuses it, and the service says so in the same words."""
    parent, child = ClientFactory(), ClientFactory()
    create_relationship(payer=parent, attendee=child, actor=staff)
    monkeypatch.setattr(RelationshipQuerySet, "active", lambda self: self.none())
    with pytest.raises(BusinessRuleError, match="already has an active relationship"):
        create_relationship(payer=parent, attendee=child, actor=staff)
    assert Relationship.objects.count() == 1
