"""Issue 12, "Practice settings": one row in the database, the environment's first
values, one accessor read by invoices, emails and the card link, a staff-only page
with validation and a history row per change."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail as django_mail
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import Invoice
from frontdesk.transfer_forms import FinishForm
from opus import practice as practices
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail, Practice, PracticeChange
from opus.services import send_outbound
from tests.factories import ClientFactory
from tests.support.billing import open_invoice
from tests.support.practice import settings_form

pytestmark = pytest.mark.django_db

URL = reverse("practice-settings")
HX = {"HX-Request": "true"}

NEW = {
    "name": "Harbour Lane Music",
    "address": "12 Quay Street\nPortsmouth PO1 2AB",
    "email": "office@harbourlane.example",
    "phone": "+44 23 9200 1234",
    "tax_number": "GB 123 4567 89",
    "invoice_footer": "Thank you for learning with us.",
    "payment_instructions": "Harbour Lane Ltd, sort code 12-34-56, account 12345678",
    "invoice_due_days": 30,
    "card_link_days": 3,
    "reply_to": "hello@harbourlane.example",
}


def change(actor, **fields):
    return practices.update_practice(data=settings_form(**fields), actor=actor)


# --- the row ----------------------------------------------------------------------------------
def test_only_one_practice_row_can_exist():
    Practice.objects.create(name="One")
    with pytest.raises(IntegrityError), transaction.atomic():
        Practice.objects.create(id=2, name="Two")
    with pytest.raises(IntegrityError), transaction.atomic():
        Practice.objects.create(name="Again")  # the same fixed id
    assert Practice.objects.count() == 1


@pytest.mark.parametrize(
    "fields",
    [{"invoice_due_days": 366}, {"card_link_days": 0}, {"card_link_days": 31}, {"name": ""}],
)
def test_the_database_refuses_values_out_of_range(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        Practice.objects.create(**{"name": "Studio", **fields})


def test_the_first_values_come_from_the_environment(settings):
    settings.OPUS_PRACTICE_NAME = "Seaside Strings"
    settings.OPUS_REPLY_TO = "Seaside Strings <desk@seaside.example>"
    settings.OPUS_CARD_REQUEST_TTL = timedelta(days=5)
    settings.OPUS_INVOICE_DUE_DAYS = 21
    practices.forget()
    practice = practices.current()
    assert practice.name == "Seaside Strings"
    assert practice.reply_to == "desk@seaside.example"
    assert (practice.card_link_days, practice.invoice_due_days) == (5, 21)
    assert not Practice.objects.exists()  # reading writes nothing


def test_the_first_save_starts_from_the_environments_values(settings, staff):
    settings.OPUS_PRACTICE_NAME = "Seaside Strings"
    practices.forget()
    change(staff, phone="023 9200 1234")
    saved = Practice.objects.get()
    assert (saved.name, saved.phone) == ("Seaside Strings", "023 9200 1234")
    assert PracticeChange.objects.get().changes == [
        {"field": "phone", "label": "Contact phone", "from": "", "to": "023 9200 1234"}
    ]


def test_a_saved_row_wins_over_the_environment(settings, staff):
    change(staff, name="Saved Name")
    settings.OPUS_PRACTICE_NAME = "Env Name"
    practices.forget()
    assert practices.current().name == "Saved Name"


def test_reads_are_cached_and_a_save_is_seen_at_once(staff, django_assert_num_queries):
    practices.forget()
    with django_assert_num_queries(1):
        practices.current()
        practices.current()
    change(staff, name="Renamed")
    assert practices.current().name == "Renamed"


def test_another_process_sees_a_change_within_the_cache_lifetime(staff, monkeypatch):
    practices.forget()
    assert practices.current().name != "Elsewhere"
    Practice.objects.create(name="Elsewhere")  # saved by another process: no forget here
    assert practices.current().name != "Elsewhere"
    later = practices.time.monotonic() + practices.CACHE_SECONDS + 1
    monkeypatch.setattr(practices.time, "monotonic", lambda: later)
    assert practices.current().name == "Elsewhere"


# --- the service --------------------------------------------------------------------------------
def test_a_change_writes_one_history_row_with_each_field_from_and_to(staff):
    row = change(staff, name="Harbour Lane Music", invoice_due_days=30)
    assert row.changed_by == staff
    assert {c["field"]: (c["from"], c["to"]) for c in row.changes} == {
        "name": ("Harbour Lane Studio", "Harbour Lane Music"),
        "invoice_due_days": ("14", "30"),
    }
    second = change(staff, address="1 Quay Street")
    assert [c["field"] for c in second.changes] == ["address"]
    assert PracticeChange.objects.count() == 2
    saved = Practice.objects.get()
    assert (saved.updated_by, saved.address) == (staff, "1 Quay Street")


def test_saving_the_same_values_twice_changes_nothing_more(staff):
    assert change(staff, **NEW) is not None
    assert change(staff, **NEW) is None
    assert PracticeChange.objects.count() == 1


def test_a_practitioner_is_refused_and_nothing_changes(therapist):
    with pytest.raises(PermissionDenied):
        change(therapist, name="Mine now")
    assert not Practice.objects.exists() and not PracticeChange.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "   "),
        ("email", "not-an-email"),
        ("phone", "call me"),
        ("phone", "12"),
        ("reply_to", "x@"),
        ("invoice_due_days", "-1"),
        ("card_link_days", "99"),
        ("tax_number", "=1+1"),
        ("address", "!!!"),
        ("invoice_footer", "x" * 1001),
    ],
)
def test_the_service_refuses_a_bad_value_naming_its_field(staff, field, value):
    with pytest.raises(BusinessRuleError) as refused:
        change(staff, **{field: value})
    assert refused.value.field == field
    assert not PracticeChange.objects.exists()


# --- where the settings show --------------------------------------------------------------------
def test_the_invoice_page_shows_the_practices_details(staff, staff_client):
    invoice = open_invoice()
    change(staff, **NEW)
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Harbour Lane Music" in page
    assert "12 Quay Street<br>Portsmouth PO1 2AB" in page
    for value in ("office@harbourlane.example", "+44 23 9200 1234", "GB 123 4567 89"):
        assert value in page
    assert "Thank you for learning with us." in page
    assert "sort code 12-34-56" in page


def test_a_queued_invoice_email_carries_the_practice_and_its_reply_to(staff):
    invoice = open_invoice(payer=ClientFactory(email="pat@example.com"))
    billing.send_invoice(invoice=invoice, actor=staff)
    change(staff, **NEW)  # after queueing: the email is rendered when sent
    row = OutboundEmail.objects.get(template="invoice")
    assert send_outbound(row.pk) == "sent"
    message = django_mail.outbox[-1]
    html = message.alternatives[0][0]
    for body in (message.body, html):
        assert "Harbour Lane Music" in body
        assert "12 Quay Street" in body and "Portsmouth PO1 2AB" in body
        assert "office@harbourlane.example" in body and "+44 23 9200 1234" in body
        assert "sort code 12-34-56" in body
        assert "Thank you for learning with us." in body
        assert "GB 123 4567 89" in body
    assert "Harbour Lane Music" in message.subject
    assert message.reply_to == ["Harbour Lane Music <hello@harbourlane.example>"]


def test_a_card_request_email_has_the_footer_and_the_lifetime(staff):
    change(staff, **NEW)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        card_request = billing.request_payment_card(
            client=ClientFactory(email="pat@example.com"), actor=staff, reason="Lessons"
        )
    assert card_request.expires_at == now + timedelta(days=3)
    row = OutboundEmail.objects.get(template="card_request")
    assert send_outbound(row.pk) == "sent"
    message = django_mail.outbox[-1]
    for body in (message.body, message.alternatives[0][0]):
        assert "Harbour Lane Music" in body and "Portsmouth PO1 2AB" in body
    assert message.reply_to == ["Harbour Lane Music <hello@harbourlane.example>"]


def test_without_a_reply_to_the_emails_carry_none(staff):
    change(staff, reply_to="")
    billing.request_payment_card(
        client=ClientFactory(email="pat@example.com"), actor=SYSTEM, reason="Lessons"
    )
    send_outbound(OutboundEmail.objects.get().pk)
    assert django_mail.outbox[-1].reply_to == []


def test_an_issued_invoice_is_due_after_the_practices_days(staff):
    change(staff, invoice_due_days=30)
    draft = billing.create_draft(payer=ClientFactory(), actor=staff)
    billing.add_charge(invoice=draft, description="Lesson", unit_price="20", actor=staff)
    issued = billing.issue_invoice(invoice=draft, issued_on=timezone.localdate(), actor=staff)
    assert issued.due_on == timezone.localdate() + timedelta(days=30)
    assert Invoice.objects.get(pk=issued.pk).due_on == issued.due_on


def test_the_issue_form_proposes_the_practices_due_date(staff, staff_client):
    change(staff, invoice_due_days=45)
    draft = billing.create_draft(payer=ClientFactory(), actor=staff)
    page = staff_client.get(reverse("billing:invoice-detail", args=[draft.pk]))
    due = page.context["issue_form"].initial["due_on"]
    assert due == timezone.localdate() + timedelta(days=45)


def test_the_transfer_checkout_proposes_the_practices_due_date(staff):
    change(staff, invoice_due_days=21)
    assert FinishForm.default_due_on() == timezone.localdate() + timedelta(days=21)


def test_every_page_names_the_practice(staff, staff_client):
    change(staff, name="Harbour Lane Music")
    page = staff_client.get(reverse("clients:list")).content.decode()
    assert "· Harbour Lane Music</title>" in page


# --- the page ----------------------------------------------------------------------------------
def test_the_page_shows_the_form_and_the_deployment_settings(staff_client, settings):
    page = staff_client.get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Practice settings" in text and 'name="name" value="Harbour Lane Studio"' in text
    assert "Currency" in text and settings.OPUS_CURRENCY in text
    assert "Time zone" in text and settings.TIME_ZONE in text
    assert "No changes yet" in text


def test_saving_records_and_shows_the_change(staff_client, staff):
    response = staff_client.post(URL, settings_form(**NEW))
    assert response.status_code == 302 and response["Location"] == URL
    assert Practice.objects.get().address == NEW["address"]
    page = staff_client.get(URL).content.decode()
    assert "Practice settings saved." in page
    assert "Sue Staff" in page and "Postal address" in page and "12 Quay Street" in page
    assert PracticeChange.objects.count() == 1


def test_a_double_submit_saves_once(staff_client):
    staff_client.post(URL, settings_form(**NEW))
    response = staff_client.post(URL, settings_form(**NEW), follow=True)
    assert "Nothing changed." in response.content.decode()
    assert PracticeChange.objects.count() == 1


def test_the_htmx_save_answers_with_a_location(staff_client):
    response = staff_client.post(URL, settings_form(**NEW), headers=HX)
    assert response.status_code == 200 and "HX-Location" in response
    fragment = staff_client.get(URL, headers=HX)
    assert b"<html" not in fragment.content and b'id="practice-settings"' in fragment.content


@pytest.mark.parametrize("headers", [{}, HX])
def test_errors_are_shown_by_their_field_with_what_was_typed(staff_client, headers):
    typed = {"email": "office-at-harbour", "phone": "ring us", "card_link_days": "90"}
    data = settings_form(**{**NEW, **typed})
    response = staff_client.post(URL, data, headers=headers)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Nothing was saved" in text
    assert "Enter a valid email address" in text and 'value="office-at-harbour"' in text
    assert "Enter a phone number of 7 to 15 digits" in text and 'value="ring us"' in text
    assert "Enter a number of days from 1 to 30." in text and 'value="90"' in text
    assert "Harbour Lane Music" in text  # the valid fields kept too
    assert not Practice.objects.exists() and not PracticeChange.objects.exists()
    if headers:
        assert "<html" not in text


def test_a_practitioner_is_refused_the_page(therapist_client):
    assert therapist_client.get(URL).status_code == 403
    assert therapist_client.post(URL, settings_form(**NEW)).status_code == 403
    assert not Practice.objects.exists()


def test_only_staff_see_the_menu_entry(staff_client, therapist_client):
    assert b"Practice settings" in staff_client.get(reverse("clients:list")).content
    assert b"Practice settings" not in therapist_client.get(reverse("clients:list")).content
