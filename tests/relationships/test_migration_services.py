"""Migration to first party: the rules, whatever the UI sends."""

import threading
from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from clients.models import ClientEvent
from frontdesk import relationship_flows as services
from frontdesk import selectors
from opus.lib.errors import BusinessRuleError
from relationships.models import Relationship, RelationshipMigration
from tests.factories import ClientFactory, PaymentMethodFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def third_party(therapist):
    organiser = ClientFactory(first_name="Oliver")
    attendee = ClientFactory(first_name="Sam", date_of_birth=date(1996, 9, 14))
    return RelationshipFactory(payer=organiser, attendee=attendee, practitioner=therapist)


def started(relationship, actor, who="attendee"):
    return services.start_migration(
        relationship=relationship, actor=actor, requested_by=who, request_note="Phoned on Monday"
    )


# --- age ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("today", "allowed"),
    [(date(2026, 6, 9), False), (date(2026, 6, 10), True), (date(2026, 6, 11), True)],
    ids=["day before 16th birthday", "16th birthday", "day after"],
)
def test_the_attendee_must_be_16(third_party, today, allowed):
    third_party.attendee.date_of_birth = date(2010, 6, 10)
    third_party.attendee.save()
    with time_machine.travel(today):
        block = selectors.migration_block(third_party, today=timezone.localdate())
    assert (block is None) is allowed
    if not allowed:
        assert block.turns_16_on == date(2026, 6, 10)
        assert "turns 16 on 10 June 2026" in block.message


@pytest.mark.parametrize(
    ("today", "allowed"),
    [(date(2028, 2, 28), False), (date(2028, 2, 29), True), (date(2028, 3, 1), True)],
    ids=["day before", "29 February", "day after"],
)
def test_a_29_february_birthday(third_party, today, allowed):
    # sixteen years after a leap year is a leap year: the 16th birthday is a 29 February
    third_party.attendee.date_of_birth = date(2012, 2, 29)
    third_party.attendee.save()
    with time_machine.travel(today):
        block = selectors.migration_block(third_party, today=timezone.localdate())
    assert (block is None) is allowed
    if not allowed:
        assert block.turns_16_on == date(2028, 2, 29)


def test_a_29_february_birthday_in_a_common_year_counts_on_1_march():
    born = ClientFactory(date_of_birth=date(2008, 2, 29))
    assert born.birthday_on(17) == date(2025, 3, 1)
    assert born.age_on(date(2025, 2, 28)) == 16
    assert born.age_on(date(2025, 3, 1)) == 17


def test_an_attendee_without_date_of_birth_must_have_one_entered(third_party):
    third_party.attendee.date_of_birth = None
    third_party.attendee.save()
    block = selectors.migration_block(third_party, today=timezone.localdate())
    assert block.needs_date_of_birth
    assert "date of birth" in block.message
    assert (
        selectors.migration_block(
            third_party, today=timezone.localdate(), date_of_birth=date(2000, 1, 1)
        )
        is None
    )


def test_only_an_active_third_party_relationship_can_be_migrated(therapist):
    first = RelationshipFactory()
    assert "already a first-party" in selectors.migration_block(first, today=date.today()).message
    ended = RelationshipFactory(
        payer=ClientFactory(),
        attendee=ClientFactory(),
        status="ended",
        ended_on=timezone.localdate(),
    )
    assert "ended" in selectors.migration_block(ended, today=date.today()).message


# --- the request ---------------------------------------------------------------------------
def test_a_migration_needs_who_asked_and_how(third_party, therapist):
    with pytest.raises(BusinessRuleError, match="who asked") as error:
        services.start_migration(
            relationship=third_party, actor=therapist, requested_by="", request_note="x"
        )
    assert error.value.field == "requested_by"
    with pytest.raises(BusinessRuleError, match="how the client asked"):
        services.start_migration(
            relationship=third_party, actor=therapist, requested_by="organiser", request_note="  "
        )
    assert not RelationshipMigration.objects.exists()


def test_an_under_16_cannot_even_start(third_party, therapist):
    third_party.attendee.date_of_birth = timezone.localdate() - timedelta(days=365 * 12)
    third_party.attendee.save()
    with pytest.raises(BusinessRuleError, match="under 16"):
        started(third_party, therapist)


# --- missing details ---------------------------------------------------------------------------
def test_the_form_asks_only_for_what_is_missing_and_keeps_what_was_typed(third_party, therapist):
    attendee = third_party.attendee
    attendee.phone = ""
    attendee.address = ""
    attendee.save()
    assert selectors.missing_details(attendee) == ["phone", "address"]
    migration = started(third_party, therapist)
    services.save_migration_details(
        migration=migration, actor=therapist, details={"phone": "0770", "email": "ignored@x.com"}
    )
    migration.refresh_from_db()
    assert migration.details == {"phone": "0770"}  # only the missing fields; bad input kept
    other_staff = UserFactory(role="staff")
    with pytest.raises(BusinessRuleError, match="phone number") as error:
        services.confirm_migration(migration=migration, actor=other_staff)
    assert error.value.field == "phone"
    migration.refresh_from_db()
    assert migration.status == "draft"
    assert migration.details["phone"] == "0770"
    third_party.refresh_from_db()
    assert third_party.status == "active"


# --- confirmation --------------------------------------------------------------------------------
def test_confirm_creates_first_party_ends_the_old_one_and_records_it(third_party, therapist):
    PaymentMethodFactory(client=third_party.attendee)
    migration = started(third_party, therapist, who="organiser")
    result = services.confirm_migration(migration=migration, actor=therapist)
    new, old = result.new_relationship, Relationship.objects.get(pk=third_party.pk)
    assert new.kind == "first_party"
    assert new.payer == new.attendee == third_party.attendee
    assert new.practitioner == therapist
    assert old.status == "ended"
    assert old.ended_on == new.started_on == timezone.localdate()
    assert old.replaced_by == new
    assert old.end_reason == "Migrated to first party at the request of the organiser"
    migration.refresh_from_db()
    assert migration.status == "completed"  # the attendee already has a card
    assert migration.confirmed_by == therapist and migration.confirmed_at is not None
    assert migration.requested_by == "organiser"
    assert not result.card_requested
    kinds = set(ClientEvent.objects.filter(kind="migrated").values_list("client_id", flat=True))
    assert kinds == {third_party.payer_id, third_party.attendee_id}


def test_missing_details_typed_at_confirmation_are_saved_to_the_attendee(third_party, therapist):
    attendee = third_party.attendee
    attendee.phone = ""
    attendee.save()
    PaymentMethodFactory(client=attendee)
    migration = started(third_party, therapist)
    services.confirm_migration(
        migration=migration, actor=therapist, details={"phone": "07700 900456"}
    )
    attendee.refresh_from_db()
    assert attendee.phone == "07700 900456"


def test_confirming_twice_makes_one_migration(third_party, therapist):
    PaymentMethodFactory(client=third_party.attendee)
    migration = started(third_party, therapist)
    first = services.confirm_migration(migration=migration, actor=therapist)
    second = services.confirm_migration(migration=migration, actor=therapist)
    assert second.replayed and second.new_relationship == first.new_relationship
    assert (
        Relationship.objects.filter(kind="first_party", attendee=third_party.attendee).count() == 1
    )


def test_an_existing_first_party_relationship_is_reused(third_party, therapist):
    PaymentMethodFactory(client=third_party.attendee)
    own = RelationshipFactory(payer=third_party.attendee, practitioner=therapist)
    result = services.confirm_migration(migration=started(third_party, therapist), actor=therapist)
    assert result.new_relationship == own


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_make_one_migration():
    therapist = UserFactory()
    relationship = RelationshipFactory(
        payer=ClientFactory(), attendee=ClientFactory(), practitioner=therapist
    )
    PaymentMethodFactory(client=relationship.attendee)
    migration = started(relationship, therapist)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def confirm():
        try:
            barrier.wait()
            results.append(services.confirm_migration(migration=migration, actor=therapist))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.new_relationship.pk for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert Relationship.objects.filter(kind="first_party").count() == 1


# --- no card on file: the email, and Create Session waiting for the card -------------------------
def test_without_a_card_the_attendee_is_emailed_once_after_commit(
    third_party, therapist, django_capture_on_commit_callbacks
):
    from billing.models import PaymentCardRequest
    from opus.models import OutboundEmail

    migration = started(third_party, therapist)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = services.confirm_migration(migration=migration, actor=therapist)
    assert len(callbacks) == 1  # the send is scheduled to run after the commit, not before
    assert result.card_requested
    card_request = PaymentCardRequest.objects.get()
    assert card_request.client == third_party.attendee
    assert card_request.relationship == result.new_relationship
    assert OutboundEmail.objects.filter(template="card_request").count() == 1
    migration.refresh_from_db()
    assert migration.status == "awaiting_card"
    again = services.confirm_migration(migration=migration, actor=therapist)
    assert again.replayed and OutboundEmail.objects.count() == 1


def test_create_session_waits_for_the_card_and_opens_when_it_is_added(third_party, therapist):
    from billing import services as billing
    from billing.tokens import token_for
    from tests.support.billing import card_details

    result = services.confirm_migration(migration=started(third_party, therapist), actor=therapist)
    new = result.new_relationship
    reason = selectors.booking_block(new)
    assert "has not added a payment card yet" in reason
    with pytest.raises(BusinessRuleError, match="payment card"):
        services.book_session(relationship=new, actor=therapist, session_date=None)
    card_request = new.card_requests.get()
    billing.add_card_from_link(token=token_for(card_request), card=card_details())
    assert selectors.booking_block(new) is None
    assert RelationshipMigration.objects.get().status == "completed"


def test_a_rolled_back_confirmation_sends_nothing(third_party, therapist, monkeypatch):
    from opus.models import OutboundEmail

    migration = started(third_party, therapist)

    def fail(**kwargs):
        raise RuntimeError("the card request failed")

    monkeypatch.setattr("billing.services.request_payment_card", fail)
    with pytest.raises(RuntimeError):
        services.confirm_migration(migration=migration, actor=therapist)
    assert not OutboundEmail.objects.exists()
    third_party.refresh_from_db()
    assert third_party.status == "active"
    assert Relationship.objects.filter(kind="first_party").count() == 0
