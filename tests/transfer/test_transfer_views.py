"""The wizard's pages: both renderings, the guard, replays, permissions, query counts."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Invoice
from frontdesk.models import Transfer
from tests.factories import SessionFactory, paid_invoice_for
from tests.support.transfer import start, step

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def test_start_presets_the_transfer_and_end_dates_and_opens_the_first_step(staff_client, world):
    location, draft = start(staff_client, world)
    assert location == step(draft, "target")
    assert draft.transfer_date == draft.end_date == world["next_monday"]


def test_the_guard_sends_the_user_to_the_first_step_not_done(staff_client, world):
    _, draft = start(staff_client, world)
    assert staff_client.get(step(draft, "payment"))["Location"] == step(draft, "target")
    assert staff_client.get(step(draft, "dates"))["Location"] == step(draft, "target")
    assert staff_client.get(step(draft, "nonsense"))["Location"] == step(draft, "target")


def test_walk_the_wizard_page_by_page_then_replay_the_final_post(staff_client, world):
    _, draft = start(staff_client, world)
    page = staff_client.get(step(draft, "target")).content.decode()
    assert "Choose the new session" in page and world["wednesday"].service.name in page
    assert f'name="session" value="{world["monday"].pk}"' not in page  # never the same session
    response = staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    assert response["Location"] == step(draft, "dates")
    dates = staff_client.get(step(draft, "dates")).content.decode()
    # preset: the first free date from the day Ava leaves the Monday session
    monday = world["next_monday"]
    preset = monday + timedelta(days=(2 - monday.weekday()) % 7)
    assert "1 place free" in dates and f'value="{preset:%Y-%m-%d}" checked' in dates
    response = staff_client.post(
        step(draft, "dates"),
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    assert response["Location"] == step(draft, "payment")
    payment = staff_client.get(step(draft, "payment")).content.decode()
    for label in (
        "Add a discount",
        "Enroll and Pay Now",
        "Enroll and Pay Later",
        "Enroll and Close Now",
        "Total",
    ):
        assert label in payment
    discount = reverse("scheduling:transfer-discount", args=[draft.public_id])
    staff_client.post(discount, {"kind": "amount", "value": "5", "reason": "Goodwill"})
    assert "Goodwill" in staff_client.get(step(draft, "payment")).content.decode()
    finish = reverse("scheduling:transfer-finish", args=[draft.public_id])
    done = staff_client.post(finish, {"how": "close_now", "close_reason": "Term paid"})
    profile = reverse("clients:detail", args=[world["subscription"].client_id])
    assert done["Location"] == profile
    again = staff_client.post(finish, {"how": "pay_later"})
    assert again["Location"] == profile
    assert Transfer.objects.count() == 1
    invoice = Invoice.objects.get()
    assert invoice.status == "closed" and invoice.lines.filter(kind="discount").count() == 1
    assert staff_client.get(step(draft, "payment"))["Location"] == profile


def test_each_step_renders_as_a_fragment_for_htmx(staff_client, world):
    _, draft = start(staff_client, world)
    fragment = staff_client.get(step(draft, "target"), headers=HX).content.decode()
    assert fragment.lstrip().startswith('<div id="wizard"') and "<html" not in fragment
    response = staff_client.post(
        step(draft, "target"), {"session": world["wednesday"].pk}, headers=HX
    )
    assert response.status_code == 200
    assert step(draft, "dates") in response["HX-Location"]


def test_bad_input_is_explained_and_kept(staff_client, world):
    _, draft = start(staff_client, world)
    bad = staff_client.post(step(draft, "target"), {"session": "abc"}).content.decode()
    assert "Choose one of the sessions listed" in bad
    staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    early = world["subscription"].first_date.replace(day=1).replace(year=2001)
    page = staff_client.post(
        step(draft, "dates"),
        {"first_date": world["next_wednesday"].isoformat(), "end_date": early.isoformat()},
    ).content.decode()
    assert "cannot end before it started" in page and early.isoformat() in page
    page = staff_client.post(
        step(draft, "dates"), {"first_date": "not-a-date", "end_date": "2026-13-45"}
    ).content.decode()
    assert "Choose a date" in page or "Choose the first date" in page
    staff_client.post(
        step(draft, "dates"),
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    discount = reverse("scheduling:transfer-discount", args=[draft.public_id])
    page = staff_client.post(discount, {"kind": "percent", "value": "150", "reason": "Oops"})
    text = page.content.decode()
    assert page.status_code == 200 and "100" in text and 'value="150"' in text
    finish = reverse("scheduling:transfer-finish", args=[draft.public_id])
    page = staff_client.post(finish, {"how": "close_now", "close_reason": ""}).content.decode()
    assert "Say why nothing more is expected" in page
    page = staff_client.post(finish, {"how": "pay_now", "method": "card"}).content.decode()
    assert "no card on file" in page
    assert not Transfer.objects.exists()


def test_extra_fields_cannot_set_the_price_or_payer(staff_client, world):
    _, draft = start(staff_client, world)
    staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk, "price": "1"})
    staff_client.post(
        step(draft, "dates"),
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    staff_client.post(
        reverse("scheduling:transfer-finish", args=[draft.public_id]),
        {"how": "pay_later", "total": "0.01", "payer": "1", "price": "0"},
    )
    invoice = Invoice.objects.get()
    assert invoice.payer == world["relationship"].payer
    assert invoice.total > Decimal("1")


def test_practitioners_cannot_transfer(therapist_client, world):
    response = therapist_client.post(
        reverse("scheduling:transfer-start"),
        {"subscription": world["subscription"].pk, "date": world["next_monday"].isoformat()},
    )
    assert response.status_code == 403


def test_a_draft_of_a_client_the_user_cannot_see_is_404(staff_client, other_client, world):
    _, draft = start(staff_client, world)
    for url in (
        step(draft, "target"),
        reverse("scheduling:transfer-finish", args=[draft.public_id]),
    ):
        assert other_client.post(url, {"how": "pay_later"}).status_code == 404
    assert not Transfer.objects.exists()


def test_finish_by_get_is_not_allowed(staff_client, world):
    _, draft = start(staff_client, world)
    url = reverse("scheduling:transfer-finish", args=[draft.public_id])
    assert staff_client.get(url).status_code == 405


def test_query_counts_do_not_grow_with_the_number_of_sessions(
    staff_client, world, therapist, django_assert_max_num_queries
):
    _, draft = start(staff_client, world)

    def measure():
        counts = {}
        for name in ("target", "dates", "payment"):
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as ctx:
                response = staff_client.get(step(draft, name))
            assert response.status_code == 200, name
            counts[name] = len(ctx.captured_queries)
        return counts

    staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    staff_client.post(
        step(draft, "dates"),
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    few = measure()
    for _ in range(25):
        SessionFactory(practitioner=therapist)
    many = measure()
    assert many == few, (few, many)
    with django_assert_max_num_queries(20):  # 37, with 10 writes and locks, before issue 10
        staff_client.get(step(draft, "payment"))


def test_the_client_profile_shows_both_subscriptions_and_the_transfer(staff_client, world):
    _, draft = start(staff_client, world)
    staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    staff_client.post(
        step(draft, "dates"),
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    response = staff_client.post(
        reverse("scheduling:transfer-finish", args=[draft.public_id]),
        {"how": "pay_later"},
        follow=True,
    )
    text = re.sub(r"\s+", " ", response.content.decode())
    assert "Transferred from" in text and "Transferred to" in text
    assert Invoice.objects.get().display_number in text


def _writes(queries) -> list[str]:
    """The statements that write or lock, of those a request ran."""
    words = ("INSERT", "UPDATE ", "DELETE", "FOR UPDATE", "SAVEPOINT")
    return [q["sql"] for q in queries if any(word in q["sql"].upper() for word in words)]


def test_the_checkout_shows_its_invoice_without_writing_or_locking_a_row(
    staff_client, staff, world
):
    """The payment step, "Add a discount" and the unused-value panel plan the
    invoice (issue 10): the page writes and locks nothing, and a discount writes
    the wizard's own row alone. The final step then issues exactly that plan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    paid_invoice_for(world["subscription"], 12, staff)
    _, draft = start(staff_client, world)
    staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    staff_client.post(
        step(draft, "dates"),
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    credit = reverse("scheduling:transfer-credit", args=[draft.public_id])
    discount = reverse("scheduling:transfer-discount", args=[draft.public_id])
    with CaptureQueriesContext(connection) as applying:
        staff_client.post(credit, {"apply": "1"}, headers=HX)
        staff_client.post(discount, {"kind": "amount", "value": "5", "reason": "Goodwill"})
    assert {sql.split()[0] for sql in _writes(applying.captured_queries)} == {"UPDATE"}
    assert all('"scheduling_transferdraft"' in sql for sql in _writes(applying.captured_queries))
    with CaptureQueriesContext(connection) as showing:
        page = staff_client.get(step(draft, "payment"))
        fragment = staff_client.get(step(draft, "payment"), headers=HX)
    assert page.status_code == fragment.status_code == 200
    assert _writes(showing.captured_queries) == []
    shown = page.context["outcome"]
    assert [line.kind for line in shown.lines] == ["charge", "discount", "credit"]
    finish = reverse("scheduling:transfer-finish", args=[draft.public_id])
    staff_client.post(finish, {"how": "pay_later"})
    issued = Transfer.objects.get().invoice
    assert [
        (line.kind, line.description, line.quantity, line.unit_price, line.amount)
        for line in issued.lines.order_by("position")
    ] == [
        (line.kind, line.description, line.quantity, line.unit_price, line.amount)
        for line in shown.lines
    ]
    assert issued.total == shown.totals["total"]
