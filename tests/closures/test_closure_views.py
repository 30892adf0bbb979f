"""The closure pages: the list, "Add closure" with its preview (page and htmx
fragment), "Confirm closure", "Undo closure", and on a session date "Cancel
this date" and "Undo cancellation". Staff only."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clients.models import ClientEvent
from opus.models import OutboundEmail
from scheduling import closures
from scheduling.models import Closure, SessionDate
from tests.factories import RoomFactory, SubscriptionFactory
from tests.support.closures import build_closure_world
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def world(staff):
    return build_closure_world()


def form_data(world, **extra):
    data = {
        "scope": "practice",
        "room": "",
        "practitioner": "",
        "first_date": f"{world.start:%Y-%m-%d}",
        "last_date": f"{world.end:%Y-%m-%d}",
        "reason": "Christmas break",
    }
    data.update(extra)
    return data


def make_closures(world, staff, count):
    for i in range(count):
        day = world.start + timedelta(weeks=3 + i)
        closures.close_dates(
            scope=Closure.Scope.ROOM if i % 2 else Closure.Scope.PRACTITIONER,
            room=RoomFactory() if i % 2 else None,
            practitioner=None if i % 2 else world.piano.practitioner,
            first_date=day,
            last_date=day + timedelta(days=2),
            reason=f"Closure {i}",
            request_key=uuid.uuid4(),
            actor=staff,
        )


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_coming_closures_first_with_add_closure(world, staff, staff_client):
    make_closures(world, staff, 2)
    undone = Closure.objects.order_by("pk").last()
    closures.undo_closure(closure=undone, actor=staff)
    page = staff_client.get(reverse("scheduling:closures"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Add closure" in html and "Undo closure" in html
    assert html.index("Closure 0") < html.index("Past and undone") < html.index("Closure 1")
    assert "Practitioner: Tess Piano" in html


def test_the_list_runs_a_fixed_number_of_queries(
    world, staff, staff_client, django_assert_num_queries
):
    make_closures(world, staff, 2)
    staff_client.get(reverse("scheduling:closures"))
    with CaptureQueriesContext(connection) as few:
        staff_client.get(reverse("scheduling:closures"))
    assert len(few) <= 8
    make_closures(world, staff, 12)
    with django_assert_num_queries(len(few)):
        assert staff_client.get(reverse("scheduling:closures")).status_code == 200


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("scheduling:closures", "get"),
        ("scheduling:closure-new", "get"),
        ("scheduling:closure-new", "post"),
        ("scheduling:closure-confirm", "post"),
    ],
)
def test_a_practitioner_is_refused_the_closure_pages(world, therapist_client, name, method):
    response = getattr(therapist_client, method)(reverse(name), form_data(world, key=uuid.uuid4()))
    assert response.status_code == 403
    assert not Closure.objects.exists()


def test_a_practitioner_gets_404_for_a_closure_and_403_for_their_own_date(world, staff):
    closure = closures.close_dates(
        scope="practice",
        first_date=world.start,
        last_date=world.end,
        reason="Snow",
        request_key=uuid.uuid4(),
        actor=staff,
    ).closure
    owner = logged_in(world.piano.practitioner)
    assert owner.post(reverse("scheduling:closure-undo", args=[closure.pk])).status_code == 404
    sd = world.dates(world.piano)[0]
    for name in ("scheduling:date-cancel", "scheduling:date-reopen"):
        assert owner.post(reverse(name, args=[sd.pk]), {"reason": "x"}).status_code == 403
    assert SessionDate.objects.filter(cancelled=True).count() == 4
    assert "Closures" not in owner.get(reverse("scheduling:schedule")).content.decode()


# --- add, preview, confirm --------------------------------------------------------------------


def test_add_closure_shows_the_form(staff_client):
    page = staff_client.get(reverse("scheduling:closure-new"))
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("The whole practice", "One room", "One practitioner", "Reason", "Preview"):
        assert label in html


def test_the_preview_page_lists_the_dates_and_clients(world, staff_client):
    page = staff_client.post(reverse("scheduling:closure-new"), form_data(world))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<html" in html
    assert "4 session dates cancelled; 6 clients affected" in " ".join(html.split())
    assert "Sam Rivera" in html and "(paid for by Oliver Grant)" in html
    assert "Mia Moss" in html and "(booked once)" in html
    assert "Confirm closure" in html
    assert "Tell the affected clients and payers by email" in html
    assert not SessionDate.objects.filter(cancelled=True).exists()


def test_the_preview_fragment_for_htmx(world, staff_client):
    page = staff_client.post(reverse("scheduling:closure-new"), form_data(world), headers=HX)
    html = page.content.decode()
    assert page.status_code == 200
    assert "<html" not in html and 'id="closure-form"' in html
    assert "Confirm closure" in html
    assert page["Vary"] and "HX-Request" in page["Vary"]


def test_the_room_preview_lists_only_that_room(world, staff_client):
    data = form_data(world, scope="room", room=world.guitar.room.pk)
    html = staff_client.post(reverse("scheduling:closure-new"), data).content.decode()
    assert "2 session dates cancelled; 1 client affected" in " ".join(html.split())
    assert "Guitar" in html and "Sam Rivera" not in html


def test_the_preview_runs_a_fixed_number_of_queries(world, staff_client, django_assert_num_queries):
    url = reverse("scheduling:closure-new")
    staff_client.post(url, form_data(world))
    with CaptureQueriesContext(connection) as few:
        staff_client.post(url, form_data(world))
    assert len(few) <= 12
    for _ in range(6):
        SubscriptionFactory(session=world.piano, first_date=world.piano.first_date)
        SubscriptionFactory(session=world.guitar, first_date=world.guitar.first_date)
    longer = form_data(world, last_date=f"{world.end + timedelta(weeks=5):%Y-%m-%d}")
    with django_assert_num_queries(len(few)):
        assert staff_client.post(url, longer).status_code == 200


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_refused_closure_reshows_the_form_with_the_message(world, staff_client, headers):
    data = form_data(world, scope="room", reason="Floods")
    page = staff_client.post(reverse("scheduling:closure-new"), data, headers=headers)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Choose the room to close." in html
    assert 'value="Floods"' in html  # what was typed stays
    assert "Confirm closure" not in html
    blank = staff_client.post(
        reverse("scheduling:closure-new"), form_data(world, reason=""), headers=headers
    )
    assert "This field is required." in blank.content.decode()


def test_confirm_closure_cancels_and_a_double_submit_does_one_thing(world, staff_client):
    data = form_data(world, key=str(uuid.uuid4()), notify="on")
    url = reverse("scheduling:closure-confirm")
    first = staff_client.post(url, data)
    assert first.status_code == 302 and first["Location"] == reverse("scheduling:closures")
    again = staff_client.post(url, data, follow=True)
    assert "was already confirmed: nothing more done" in again.content.decode()
    assert Closure.objects.count() == 1
    assert SessionDate.objects.filter(cancelled=True, cancel_reason="Christmas break").count() == 4
    assert OutboundEmail.objects.count() == 6
    page = staff_client.get(reverse("scheduling:closures")).content.decode()
    assert "Christmas break" in page


def test_confirm_without_email_sends_nothing(world, staff_client):
    data = form_data(world, key=str(uuid.uuid4()))
    response = staff_client.post(reverse("scheduling:closure-confirm"), data, follow=True)
    assert "Closed: Christmas break. 4 session dates cancelled." in response.content.decode()
    undo = reverse("scheduling:closure-undo", args=[Closure.objects.get().pk])
    assert f'action="{undo}" class="inline-form undo-form"' in response.content.decode()
    assert not OutboundEmail.objects.exists()


def test_confirm_without_its_key_is_refused_with_a_message(world, staff_client):
    page = staff_client.post(reverse("scheduling:closure-confirm"), form_data(world))
    assert "This form has expired" in page.content.decode()
    assert not Closure.objects.exists()


def test_undo_closure_from_the_list(world, staff, staff_client):
    closure = closures.close_dates(
        scope="practice",
        first_date=world.start,
        last_date=world.end,
        reason="Snow",
        request_key=uuid.uuid4(),
        actor=staff,
    ).closure
    url = reverse("scheduling:closure-undo", args=[closure.pk])
    page = staff_client.post(url, follow=True).content.decode()
    assert "Snow undone: 4 session dates held again." in page
    assert "was already undone" in staff_client.post(url, follow=True).content.decode()
    assert not SessionDate.objects.filter(cancelled=True).exists()
    assert staff_client.get(url).status_code == 405


# --- one date -----------------------------------------------------------------------------


def test_cancel_this_date_and_undo_it_from_the_session_date_page(world, staff_client):
    sd = world.dates(world.piano)[0]
    page_url = reverse("scheduling:session-date", args=[sd.pk])
    assert "Cancel this date" in staff_client.get(page_url).content.decode()
    response = staff_client.post(
        reverse("scheduling:date-cancel", args=[sd.pk]), {"reason": "Tuner visit"}
    )
    assert response.status_code == 302 and response["Location"] == page_url
    page = staff_client.get(page_url).content.decode()
    assert "Cancelled: Tuner visit" in page and "Undo cancellation" in page
    staff_client.post(reverse("scheduling:date-reopen", args=[sd.pk]))
    sd.refresh_from_db()
    assert not sd.cancelled
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_REOPENED).exists()


def test_cancel_and_undo_as_htmx_fragments(world, staff_client):
    sd = world.dates(world.piano)[0]
    response = staff_client.post(
        reverse("scheduling:date-cancel", args=[sd.pk]), {"reason": "Tuner visit"}, headers=HX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "This date is cancelled." in html and "Undo cancellation" in html
    reopen = reverse("scheduling:date-reopen", args=[sd.pk])
    assert f'form="undo-{sd.pk}"' in html and f'hx-post="{reopen}"' in html  # Undo in the notice
    assert "roster-changed" in response["HX-Trigger"]
    response = staff_client.post(reverse("scheduling:date-reopen", args=[sd.pk]), headers=HX)
    assert "This date is held again." in response.content.decode()


def test_cancel_without_a_reason_says_so(world, staff_client):
    sd = world.dates(world.piano)[0]
    response = staff_client.post(
        reverse("scheduling:date-cancel", args=[sd.pk]), {"reason": " "}, headers=HX
    )
    assert "Give a reason" in response.content.decode()
    sd.refresh_from_db()
    assert not sd.cancelled


def test_a_past_date_offers_neither(world, staff_client):
    past = SessionDate.objects.filter(session=world.piano, date__lt=world.today).first()
    page = staff_client.get(reverse("scheduling:session-date", args=[past.pk])).content.decode()
    assert "Cancel this date" not in page and "Undo cancellation" not in page
    response = staff_client.post(
        reverse("scheduling:date-cancel", args=[past.pk]), {"reason": "Snow"}, follow=True
    )
    assert "has already started or passed" in response.content.decode()
