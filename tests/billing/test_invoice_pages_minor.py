"""Issue 9's small billing defects: the invoice list's total counts only what
was billed, and invoice numbers link to their invoice wherever they are listed."""

import re

import pytest
from django.urls import reverse

from billing import services
from opus.lib.actors import SYSTEM
from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db


def sums(page: str) -> dict[str, str]:
    block = page[page.index('<dl class="sums"') : page.index("</dl>", page.index('class="sums"'))]
    return {
        re.sub(r"<[^>]+>|\s+", " ", dt).split("(")[0].strip(): dd
        for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block)
    }


def test_the_list_total_is_what_issued_not_void_invoices_billed(staff_client, staff):
    payer = ClientFactory()
    draft = services.create_draft(actor=SYSTEM, payer=payer)
    services.add_charge(actor=SYSTEM, invoice=draft, description="Not issued", unit_price="100")
    services.void_invoice(
        actor=SYSTEM, invoice=open_invoice(payer=payer, amount="50"), reason="Wrong"
    )
    partly_paid = open_invoice(payer=payer, amount="30")
    services.record_payment(invoice=partly_paid, amount="10", method="cash", actor=staff)
    paid = open_invoice(payer=payer, amount="20")
    services.record_payment(invoice=paid, amount="20", method="cash", actor=staff)
    services.close_invoice(
        actor=SYSTEM, invoice=open_invoice(payer=payer, amount="40"), reason="Waived"
    )

    page = staff_client.get(reverse("billing:invoice-list")).content.decode()
    assert sums(page) == {"Invoices": "5", "Billed": "£90.00", "Balance due": "£20.00"}
    assert "(open, paid and closed)" in page  # the label says what it sums
    only_void = staff_client.get(reverse("billing:invoice-list"), {"status": "void"})
    assert sums(only_void.content.decode())["Billed"] == "£0.00"


def invoice_link(invoice) -> str:
    url = reverse("billing:invoice-detail", args=[invoice.pk])
    return f'<a href="{url}">{invoice.display_number}</a>'


@pytest.fixture
def billed(therapist):
    subscription = SubscriptionFactory(session__practitioner=therapist)
    relationship = subscription.relationship
    return relationship, open_invoice(relationship=relationship, amount="25")


@pytest.mark.parametrize("who", ["staff_client", "therapist_client"])
def test_invoice_numbers_on_the_profile_and_relationship_pages_are_links(request, who, billed):
    viewer = request.getfixturevalue(who)
    relationship, invoice = billed
    for url in (
        reverse("clients:detail", args=[relationship.payer_id]),
        reverse("relationships:detail", args=[relationship.pk]),
    ):
        page = viewer.get(url).content.decode()
        assert invoice_link(invoice) in page, url
    assert viewer.get(reverse("billing:invoice-detail", args=[invoice.pk])).status_code == 200


def test_a_practitioner_never_gets_a_link_to_an_invoice_they_cannot_open(
    therapist_client, therapist, other_therapist
):
    """A client shared by two practitioners: the other's relationship and its
    invoice are not listed for this one, so there is no link to follow into a 404."""
    relationship = RelationshipFactory()
    SubscriptionFactory(relationship=relationship, session__practitioner=therapist)
    theirs = RelationshipFactory(payer=relationship.payer, attendee=ClientFactory())
    SubscriptionFactory(relationship=theirs, session__practitioner=other_therapist)
    hidden = open_invoice(relationship=theirs, amount="33")
    page = therapist_client.get(reverse("clients:detail", args=[relationship.payer_id]))
    assert reverse("billing:invoice-detail", args=[hidden.pk]) not in page.content.decode()
    assert (
        therapist_client.get(reverse("billing:invoice-detail", args=[hidden.pk])).status_code == 404
    )
