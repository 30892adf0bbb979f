"""One definition of each client detail's rule (clients.fields), used by every form
that edits a client and by the services that write one: what one refuses, all
refuse, with the same words."""

from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from clients.fields import clean_details, validate_phone
from clients.forms import ContactForm
from clients.models import Client, ClientEvent
from clients.services import update_contact_details
from frontdesk import relationship_flows as services
from frontdesk.relationship_forms import PayingDetailsForm
from opus.lib.errors import BusinessRuleError
from relationships.models import RelationshipMigration
from tests.factories import ClientFactory, PaymentMethodFactory, RelationshipFactory

HX = {"HX-Request": "true"}
TODAY = date(2026, 11, 29)


@pytest.mark.parametrize(
    "phone",
    [
        "07700 900123",
        "+44 7700 900123",
        "+44 (0)7700 900-123",
        "(0117) 496 0123",
        "0117-496-0123",
        "  07700900123  ",
    ],
)
def test_phone_numbers_people_write_are_accepted(phone):
    validate_phone(phone)


@pytest.mark.parametrize(
    "phone",
    [
        "call me maybe!!",
        "0770",  # too few digits
        "1234 5678 9012 3456",  # more than 15
        "07700 900123 ext. 4",
        "07700+900123",  # + only at the start
        "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13",  # full-width
        "07700\x00900123",
    ],
)
def test_other_text_is_not_a_phone_number(phone):
    with pytest.raises(ValidationError, match="Enter a phone number of 7 to 15 digits"):
        validate_phone(phone)


# what each rule refuses: the same message from both forms and from the services
BAD = [
    ("phone", "call me maybe!!", "Enter a phone number of 7 to 15 digits"),
    ("email", "sam at example", "Enter a valid email address"),
    ("date_of_birth", "2026-11-30", "Enter a date of birth between 1906 and today."),
    ("date_of_birth", "1905-12-31", "Enter a date of birth between 1906 and today."),
    ("date_of_birth", "31/02/1990", "Enter a real date"),
    ("address", "!!!", "Enter a postal address"),
    ("address", "x" * 501, "Shorten the address to 500 characters."),
]


@pytest.mark.django_db  # the contact form is a model form: it checks the constraints
@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_every_form_and_the_services_refuse_the_same_values_in_the_same_words(name, value, message):
    with time_machine.travel(TODAY):
        contact = ContactForm(data={"first_name": "Sam", "last_name": "Rivera", name: value})
        details = PayingDetailsForm(data={name: value}, missing=[name])
        with pytest.raises(BusinessRuleError) as refused:
            clean_details({name: value})
        assert not contact.is_valid() and not details.is_valid()
    assert contact.errors[name] == details.errors[name]
    assert message in contact.errors[name][0]
    assert refused.value.field == name and refused.value.message == contact.errors[name][0]


@pytest.mark.django_db
def test_the_model_refuses_them_too():
    client = Client(first_name="Sam", last_name="Rivera", phone="call me maybe!!")
    with pytest.raises(ValidationError) as refused:
        client.full_clean()
    assert "phone" in refused.value.message_dict


@pytest.mark.django_db
def test_the_contact_form_refuses_call_me_maybe_and_loses_nothing(staff_client):
    sam = ClientFactory(first_name="Sam", last_name="Rivera", phone="07700 900456")
    url = reverse("clients:detail", args=[sam.pk])
    data = {"first_name": "Sam", "last_name": "Rivera", "email": sam.email}
    for headers in ({}, HX):
        response = staff_client.post(url, {**data, "phone": "call me maybe!!"}, headers=headers)
        body = response.content.decode()
        assert response.status_code == 200
        assert "Enter a phone number of 7 to 15 digits" in body
        assert 'value="call me maybe!!"' in body  # what was typed stays, to correct it
    sam.refresh_from_db()
    assert sam.phone == "07700 900456"
    assert not ClientEvent.objects.filter(kind=ClientEvent.Kind.UPDATED).exists()


@pytest.mark.django_db
def test_the_service_refuses_what_the_form_would(staff):
    sam = ClientFactory(phone="07700 900456")
    for data, field in (
        ({"phone": "call me maybe!!"}, "phone"),
        ({"first_name": "  "}, "first_name"),
        ({"date_of_birth": timezone.localdate() + timedelta(days=2)}, "date_of_birth"),
    ):
        with pytest.raises(BusinessRuleError) as refused:
            update_contact_details(client=sam, data=data, actor=staff)
        assert refused.value.field == field
    assert Client.objects.get(pk=sam.pk).phone == "07700 900456"
    assert not ClientEvent.objects.exists()


@pytest.mark.django_db
def test_the_migration_form_refuses_call_me_maybe_in_the_same_words(therapist, therapist_client):
    sam = ClientFactory(first_name="Sam", phone="")
    relationship = RelationshipFactory(payer=ClientFactory(), attendee=sam, practitioner=therapist)
    PaymentMethodFactory(client=sam)
    services.start_migration(
        relationship=relationship, actor=therapist, requested_by="attendee", request_note="rang"
    )
    url = reverse("relationships:migrate-details", args=[relationship.pk])
    response = therapist_client.post(url, {"phone": "call me maybe!!", "action": "confirm"})
    assert "Enter a phone number of 7 to 15 digits" in response.content.decode()
    assert RelationshipMigration.objects.get().status == "draft"
    assert Client.objects.get(pk=sam.pk).phone == ""
