"""Issue 9's small checkout defects: each discount shows once, with its amount in
the currency; a failed finish shows its error at its own field and leaves the
other finishes' presets alone."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from frontdesk import transfers
from frontdesk.models import Transfer
from opus.lib.actors import SYSTEM

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
MINUS = "\u2212"  # the sign the page prints before an amount taken off


@pytest.fixture
def draft(world, staff):
    draft = transfers.start_transfer(
        subscription=world["subscription"], transfer_date=world["next_monday"], actor=staff
    )
    transfers.choose_target(draft=draft, session=world["wednesday"], actor=staff)
    transfers.choose_dates(
        draft=draft, first_date=world["next_wednesday"], end_date=world["next_monday"], actor=staff
    )
    return draft


def payment_page(client, draft, **kwargs) -> str:
    url = reverse("scheduling:transfer-step", args=[draft.public_id, "payment"])
    return client.get(url, **kwargs).content.decode()


def visible_text(html: str) -> str:
    html = re.sub(r'<span class="visually-hidden">.*?</span>', "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_each_discount_shows_once_with_its_amount_in_the_currency(staff_client, draft, headers):
    transfers.add_discount(actor=SYSTEM, draft=draft, amount="6", reason="Goodwill")
    transfers.add_discount(actor=SYSTEM, draft=draft, percent="10", reason="Loyalty")
    text = visible_text(payment_page(staff_client, draft, headers=headers))
    assert text.count("Goodwill") == 1 and text.count("Loyalty") == 1
    assert f"Discount: Goodwill Remove {MINUS}£6.00" in text
    assert re.search(rf"Discount 10%: Loyalty Remove {MINUS}£\d+\.\d\d", text)
    assert "Discount 6" not in text  # a bare number, no currency


def test_each_discount_is_removed_by_its_own_button(staff_client, draft):
    transfers.add_discount(actor=SYSTEM, draft=draft, amount="6", reason="Goodwill")
    transfers.add_discount(actor=SYSTEM, draft=draft, percent="10", reason="Loyalty")
    page = payment_page(staff_client, draft)
    remove = reverse("scheduling:transfer-discount-remove", args=[draft.public_id, 1])
    row = page[page.index(f'action="{remove}"') :]
    assert row.index("discount: Loyalty") < row.index("</tr>")
    staff_client.post(remove)
    draft.refresh_from_db()
    assert [d["reason"] for d in draft.discounts] == ["Goodwill"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_failed_close_now_keeps_the_due_date_and_shows_its_error_at_its_field(
    staff_client, draft, headers
):
    url = reverse("scheduling:transfer-finish", args=[draft.public_id])
    page = staff_client.post(url, {"how": "close_now", "close_reason": " "}, headers=headers)
    html = page.content.decode()
    assert not Transfer.objects.exists()
    preset = timezone.localdate() + timedelta(days=14)
    assert f'id="finish-due" name="due_on" value="{preset:%Y-%m-%d}"' in html
    close_field = html[html.index('id="finish-close"') :]
    error = (
        '<p class="error" id="finish-close-error" role="alert">Say why nothing more is expected.'
    )
    assert close_field.index(error) < close_field.index("Enroll and Close Now")
    assert 'aria-describedby="finish-close-error"' in close_field[: close_field.index(">")]
    assert html.count("Say why nothing more is expected.") == 1


def test_a_failed_pay_later_keeps_what_was_typed_at_the_due_date(staff_client, draft):
    url = reverse("scheduling:transfer-finish", args=[draft.public_id])
    past = timezone.localdate() - timedelta(days=3)
    html = staff_client.post(url, {"how": "pay_later", "due_on": f"{past:%Y-%m-%d}"}).content
    html = html.decode()
    assert f'name="due_on" value="{past:%Y-%m-%d}"' in html
    due_field = html[html.index('id="finish-due"') :]
    assert due_field.index("The due date is in the past.") < due_field.index("Enroll and Pay Later")
