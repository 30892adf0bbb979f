"""Who may enter which missing detail in a migration: a practitioner adds the ways to
reach the attendee (email, phone); the date of birth, which decides the under-16
rule, and the postal address are staff's. The service enforces it; the form shows
only what the user may enter and says why the rest is missing."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from clients.models import Client
from frontdesk import relationship_flows as services
from opus.lib.errors import BusinessRuleError
from relationships.models import Relationship, RelationshipMigration
from tests.factories import ClientFactory, PaymentMethodFactory, RelationshipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bare(therapist):
    """Oliver pays for Sam, of whom the practice knows only the name: no email,
    phone, date of birth or address."""
    sam = ClientFactory(first_name="Sam", email="", phone="", date_of_birth=None, address="")
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"), attendee=sam, practitioner=therapist
    )
    PaymentMethodFactory(client=sam)
    services.start_migration(
        relationship=relationship, actor=therapist, requested_by="attendee", request_note="rang"
    )
    return relationship


TYPED = {
    "email": "sam@example.com",
    "phone": "07700 900456",
    "date_of_birth": "2000-01-01",
    "address": "1 High Street, Bristol",
}


def test_a_practitioner_saves_only_the_email_and_phone(bare, therapist):
    migration = RelationshipMigration.objects.get()
    services.save_migration_details(migration=migration, actor=therapist, details=TYPED)
    migration.refresh_from_db()
    assert migration.details == {"email": "sam@example.com", "phone": "07700 900456"}


def test_a_date_of_birth_from_a_practitioner_never_passes_the_age_rule(bare, therapist):
    migration = RelationshipMigration.objects.get()
    with pytest.raises(BusinessRuleError) as refused:
        services.confirm_migration(migration=migration, actor=therapist, details=TYPED)
    assert refused.value.message == (
        "Only staff can add Sam's date of birth and postal address: ask the front desk to "
        "add them on Sam's profile, or to confirm the migration."
    )
    assert RelationshipMigration.objects.get().status == "draft"
    assert Relationship.objects.get(pk=bare.pk).status == "active"
    sam = Client.objects.get(pk=bare.attendee_id)
    assert (sam.email, sam.phone, sam.date_of_birth, sam.address) == ("", "", None, "")


def test_staff_may_enter_every_missing_detail(bare, therapist, staff):
    migration = RelationshipMigration.objects.get()
    services.save_migration_details(migration=migration, actor=staff, details=TYPED)
    result = services.confirm_migration(migration=migration, actor=staff)
    assert result.new_relationship.kind == "first_party"
    sam = Client.objects.get(pk=bare.attendee_id)
    assert sam.date_of_birth == date(2000, 1, 1) and sam.address == TYPED["address"]


def test_a_date_of_birth_staff_enter_still_meets_the_age_rule(bare, staff):
    migration = RelationshipMigration.objects.get()
    child = timezone.localdate().replace(year=timezone.localdate().year - 12, day=1)
    with pytest.raises(BusinessRuleError, match="under 16"):
        services.confirm_migration(
            migration=migration,
            actor=staff,
            details={**TYPED, "date_of_birth": f"{child:%Y-%m-%d}"},
        )
    assert Client.objects.get(pk=bare.attendee_id).date_of_birth is None


def test_once_staff_added_them_the_practitioner_finishes(bare, therapist, staff):
    from clients.services import update_contact_details

    update_contact_details(
        client=bare.attendee,
        data={"date_of_birth": date(2000, 1, 1), "address": TYPED["address"]},
        actor=staff,
    )
    migration = RelationshipMigration.objects.get()
    result = services.confirm_migration(
        migration=migration,
        actor=therapist,
        details={"email": TYPED["email"], "phone": "07700 900456"},
    )
    assert not result.replayed
    assert Client.objects.get(pk=bare.attendee_id).email == TYPED["email"]


# --- the form ---------------------------------------------------------------------------------
def test_the_practitioners_form_shows_only_email_and_phone_and_says_why(bare, therapist_client):
    url = reverse("relationships:migrate-details", args=[bare.pk])
    page = therapist_client.get(url).content.decode()
    assert 'name="email"' in page and 'name="phone"' in page
    assert 'name="date_of_birth"' not in page and 'name="address"' not in page
    assert "Only staff can add Sam&#x27;s date of birth and postal address" in page
    assert 'value="confirm" class="button primary" disabled' in page
    # a forged post of the date of birth is not kept, and confirming changes nothing
    for action in ("save", "confirm"):
        therapist_client.post(url, {**TYPED, "action": action})
    assert RelationshipMigration.objects.get().details == {
        "email": TYPED["email"],
        "phone": TYPED["phone"],
    }
    assert RelationshipMigration.objects.get().status == "draft"
    assert Client.objects.get(pk=bare.attendee_id).date_of_birth is None


def test_staff_see_every_missing_field(bare, staff_client):
    page = staff_client.get(reverse("relationships:migrate-details", args=[bare.pk]))
    body = page.content.decode()
    for name in TYPED:
        assert f'name="{name}"' in body
    assert "Only staff can add" not in body
