"""The Django admin stays for superusers, but what is money or history is read-only
there (issued invoices, payments and their attempts, the invoice counter, a
client's history, a transfer's record), and every change it makes writes a history
row on the clients concerned, besides Django's LogEntry."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.admin.sites import site
from django.forms.models import model_to_dict
from django.urls import reverse

from billing import services as billing
from billing.models import Invoice, InvoiceLine, InvoiceSequence, Payment, PaymentAttempt
from clients.models import Client, ClientEvent
from frontdesk.models import Transfer
from opus.lib.actors import SYSTEM
from opus.models import User
from relationships.models import Relationship
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
    UserFactory,
    paid_invoice_for,
)
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss():
    return UserFactory(username="boss", role=User.Role.STAFF, is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(boss):
    return logged_in(boss)


@pytest.fixture
def paid(staff):
    subscription = SubscriptionFactory(session=SessionFactory())
    return paid_invoice_for(subscription, 4, staff)


def url(obj, view):
    opts = obj._meta
    args = [] if view in ("add", "changelist") else [obj.pk]
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def form_data(response) -> dict:
    """What the admin's change form would post back, unchanged: its fields' initial
    values and each inline's management form."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = str(value)
        if field.show_hidden_initial:  # a callable default: the form compares with it
            data[form.add_initial_prefix(name)] = data[name]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, 0)
        for index, line in enumerate(inline.formset.forms):
            for name, field in line.fields.items():
                value = line.initial.get(name, field.initial)
                if value is not None and not isinstance(value, bool):
                    data[f"{line.prefix}-{name}"] = str(getattr(value, "pk", value))
            assert line.prefix == f"{inline.formset.prefix}-{index}"
    return data


def snapshot(obj):
    obj.refresh_from_db()
    return model_to_dict(obj)


def read_only_objects(paid):
    payment = Payment.objects.get(invoice=paid)
    attempt = PaymentAttempt.objects.create(
        invoice=paid,
        payment_method=PaymentMethodFactory(client=paid.payer),
        amount=paid.total,
        currency=paid.currency,
        idempotency_key="k-1",
        request_key="r-1",
    )
    event = ClientEvent.objects.filter(client=paid.payer).first()
    assert event is not None
    sequence = InvoiceSequence.objects.get()
    return [paid, payment, attempt, sequence, event]


def test_issued_invoices_payments_the_counter_and_history_refuse_every_write(admin_client, paid):
    for obj in read_only_objects(paid):
        before = snapshot(obj)
        change = admin_client.get(url(obj, "change"))
        assert change.status_code == 200, obj  # shown, read-only
        assert b'type="submit" value="Save"' not in change.content
        assert admin_client.post(url(obj, "change"), {"status": "void"}).status_code == 403
        assert admin_client.post(url(obj, "delete"), {"post": "yes"}).status_code == 403
        assert admin_client.post(url(obj, "add"), {}).status_code == 403
        assert admin_client.get(url(obj, "add")).status_code == 403
        assert snapshot(obj) == before
        # no "Delete selected" action on the list either
        listing = admin_client.post(
            url(obj, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk]}
        )
        assert listing.status_code in (200, 302)
        assert type(obj).objects.filter(pk=obj.pk).exists()
    assert Invoice.objects.filter(pk=paid.pk, status=Invoice.Status.PAID).exists()


def test_an_issued_invoice_lines_cannot_be_changed_through_its_page(admin_client, paid):
    lines = list(InvoiceLine.objects.filter(invoice=paid).values())
    page = admin_client.get(url(paid, "change"))
    assert page.status_code == 200
    response = admin_client.post(url(paid, "change"), form_data(page))
    assert response.status_code == 403
    assert list(InvoiceLine.objects.filter(invoice=paid).values()) == lines


def test_a_draft_may_be_edited_but_not_issued_renumbered_or_added(admin_client, boss):
    payer = ClientFactory(first_name="Dora")
    draft = billing.create_draft(actor=SYSTEM, payer=payer)
    page = admin_client.get(url(draft, "change"))
    assert page.status_code == 200
    data = form_data(page)
    assert "status" not in data and "number" not in data  # shown read-only
    data.update(status="paid", number="7", due_on="2031-01-31")
    response = admin_client.post(url(draft, "change"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    draft.refresh_from_db()
    assert (draft.status, draft.number, str(draft.due_on)) == ("draft", None, "2031-01-31")
    event = ClientEvent.objects.filter(client=payer).first()
    assert event.summary == "Changed in the admin by boss: invoice: Due on"
    assert event.actor == boss
    assert admin_client.post(url(draft, "delete"), {"post": "yes"}).status_code == 403


def test_an_admin_edit_of_a_client_writes_a_line_of_their_history(admin_client, boss):
    client = ClientFactory(first_name="Ann", phone="07700 900123")
    page = admin_client.get(url(client, "change"))
    data = form_data(page)
    data.update(phone="07700 900999", notes="Prefers mornings")
    response = admin_client.post(url(client, "change"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    client.refresh_from_db()
    assert client.phone == "07700 900999"
    event = ClientEvent.objects.get(client=client)
    assert event.kind == ClientEvent.Kind.UPDATED
    assert event.summary == "Changed in the admin by boss: client: Phone, Notes"
    assert event.actor == boss
    assert LogEntry.objects.filter(object_id=str(client.pk), user=boss).count() == 1
    # saved again unchanged: no new line
    assert (
        admin_client.post(
            url(client, "change"),
            form_data(page) | {"phone": "07700 900999", "notes": "Prefers mornings"},
        ).status_code
        == 302
    )
    assert ClientEvent.objects.filter(client=client).count() == 1


def test_an_admin_edit_of_a_relationship_writes_history_on_both_clients(admin_client, therapist):
    parent, child = ClientFactory(), ClientFactory()
    relationship = RelationshipFactory(payer=parent, attendee=child, practitioner=therapist)
    data = form_data(admin_client.get(url(relationship, "change")))
    data["end_reason"] = "Moved away"
    assert admin_client.post(url(relationship, "change"), data).status_code == 302
    for client in (parent, child):
        event = ClientEvent.objects.get(client=client)
        assert event.summary == "Changed in the admin by boss: relationship: End reason"
        assert event.practitioner == therapist  # seen by those who see the sessions
    assert Relationship.objects.get(pk=relationship.pk).end_reason == "Moved away"


def test_an_admin_deletion_writes_history_on_the_client(admin_client):
    subscription = SubscriptionFactory(session=SessionFactory())
    client = subscription.client
    response = admin_client.post(url(subscription, "delete"), {"post": "yes"})
    assert response.status_code == 302
    event = ClientEvent.objects.get(client=client)
    assert event.summary.startswith("Deleted in the admin by boss: subscription: ")


def test_a_client_with_history_is_never_deleted_in_the_admin(admin_client, paid):
    client = paid.payer
    assert admin_client.post(url(client, "delete"), {"post": "yes"}).status_code == 403
    assert Client.objects.filter(pk=client.pk).exists()
    lonely = ClientFactory()
    assert admin_client.post(url(lonely, "delete"), {"post": "yes"}).status_code == 302
    assert not Client.objects.filter(pk=lonely.pk).exists()


def test_every_admin_page_renders_for_a_superuser(admin_client, paid):
    read_only_objects(paid)
    assert admin_client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in site._registry.items():
        opts = model._meta
        listing = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert listing.status_code == 200, model
        obj = model._default_manager.first()
        if obj is not None:
            assert admin_client.get(url(obj, "change")).status_code == 200, model
        if model_admin.has_add_permission(listing.wsgi_request):
            assert admin_client.get(url(model(), "add")).status_code == 200, model
    assert Transfer in site._registry
    assert Decimal(paid.total) > 0
