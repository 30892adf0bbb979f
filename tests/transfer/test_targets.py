"""The transfer's list of sessions: those of the client's own service first
(issue 9, minor), each saying how many places its next date has left."""

from decimal import Decimal

import pytest

from frontdesk import selectors
from tests.factories import ServiceFactory, SessionFactory
from tests.support.transfer import start, step

pytestmark = pytest.mark.django_db


def test_sessions_of_the_same_service_come_first(world, staff, therapist):
    """Ava is in piano. "Guitar group" sorts before "Piano" by name: on main the
    guitar group came first and the other piano sessions last."""
    cello = ServiceFactory(name="Cello, 30 min", price=Decimal(30))
    SessionFactory(service=cello, practitioner=therapist, weekday=1)
    later_piano = SessionFactory(service=world["monday"].service, practitioner=therapist, weekday=5)
    sessions = selectors.transfer_targets(staff, world["subscription"])
    names = [(s.service.name, s.weekday) for s in sessions]
    assert names == [
        ("Piano, 30 min", 2),  # same service, in the existing order (weekday, time)
        ("Piano, 30 min", 5),
        ("Cello, 30 min", 1),  # then the others, by name
        ("Guitar group", 4),
    ]
    assert later_piano in sessions


def test_the_list_shows_places_as_people_say_them_same_service_first(staff_client, world):
    _, draft = start(staff_client, world)
    page = staff_client.get(step(draft, "target")).content.decode()
    assert "Places next time" in page
    assert "1 place free" in page  # Wednesday's piano: a private slot, free
    assert "2 of 2 places free" in page  # Friday's guitar group
    wednesday = page.index('<span class="visually-hidden"> Piano, 30 min, Wednesdays 10:00')
    friday = page.index('<span class="visually-hidden"> Guitar group, Fridays 10:00')
    assert wednesday < friday


def test_the_list_shows_a_page_of_sessions_then_more_on_request(
    staff_client, world, therapist, django_assert_max_num_queries
):
    """Issue 17: the list does not grow with the practice. The first 20 sessions
    (same service first), their places read for those rows only, then "Show more"
    keeps the filters; every row posts through one form (one CSRF token)."""
    cello = ServiceFactory(name="Cello, 30 min", price=Decimal(30))
    for weekday in range(25):
        SessionFactory(service=cello, practitioner=therapist, weekday=weekday % 7)
    _, draft = start(staff_client, world)
    with django_assert_max_num_queries(8):
        page = staff_client.get(step(draft, "target")).content.decode()
    assert page.count('name="session"') == selectors.TARGETS_SHOWN
    fragment = staff_client.get(step(draft, "target"), headers={"HX-Request": "true"})
    assert fragment.content.decode().count("csrfmiddlewaretoken") == 1
    assert page.index("Piano, 30 min, Wednesdays") < page.index("Cello, 30 min,")
    assert "Show more sessions" in page and "shown=40" in page
    with django_assert_max_num_queries(8):
        more = staff_client.get(step(draft, "target"), {"shown": "40"}).content.decode()
    assert more.count('name="session"') == 27  # Wednesday piano, Friday guitar, 25 cello
    assert "Show more sessions" not in more
    narrowed = staff_client.get(step(draft, "target"), {"service": cello.pk}).content.decode()
    assert narrowed.count('name="session"') == 20
    assert f"service={cello.pk}" in narrowed and "Piano, 30 min, Wednesdays" not in narrowed
    for shown in ("-5", "abc", "99999999999999999999"):
        assert staff_client.get(step(draft, "target"), {"shown": shown}).status_code == 200


def test_choosing_a_session_from_the_one_form_moves_on(staff_client, world):
    _, draft = start(staff_client, world)
    response = staff_client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    assert response.status_code == 302 and response.url == step(draft, "dates")
