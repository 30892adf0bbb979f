"""The Team page and each person's page: staff only, both renderings, the forms'
refusals shown by their fields, and the revocation on the next request."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from opus import team
from opus.models import Invitation, OutboundEmail, TeamEvent, User
from scheduling.services import generate_session_dates
from tests.factories import SessionFactory, UserFactory, next_weekday
from tests.support.team import invite

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def logged_in(user) -> HttpClient:
    browser = HttpClient()
    browser.force_login(user)
    return browser


def test_the_team_page_lists_people_with_role_status_and_last_login(staff, staff_client, therapist):
    invite(staff)
    UserFactory(first_name="Gone", last_name="Away", is_active=False)
    page = staff_client.get(reverse("team:list"))
    assert page.status_code == 200
    text = page.content.decode()
    for expected in (
        "Tess One",
        "Practitioner",
        "Ivy Vited",
        "Invited",
        "Gone Away",
        "Deactivated",
        "Never",
    ):
        assert expected in text, expected
    nav_entry = (
        r'<a\s+href="/team/"\s+aria-current="page"\s*><svg [^>]+>.*?</svg><span>Team</span></a>'
    )
    assert re.search(nav_entry, text, re.DOTALL)  # the nav entry, with its icon
    fragment = staff_client.get(reverse("team:list"), headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode() and "Ivy Vited" in fragment.content.decode()


def test_practitioners_get_403_and_no_nav_entry(therapist_client, therapist):
    assert therapist_client.get(reverse("team:list")).status_code == 403
    assert (
        therapist_client.post(reverse("team:invite"), {"email": "x@example.com"}).status_code == 403
    )
    assert therapist_client.get(reverse("team:member", args=[therapist.pk])).status_code == 403
    schedule = therapist_client.get(reverse("scheduling:schedule")).content.decode()
    assert 'href="/team/"' not in schedule
    assert not Invitation.objects.exists()


def test_inviting_through_the_page(staff_client):
    data = {
        "first_name": "Ivy",
        "last_name": "Vited",
        "email": "ivy@example.com",
        "role": "practitioner",
    }
    response = staff_client.post(reverse("team:invite"), data, follow=True)
    assert "Invitation sent to ivy@example.com." in response.content.decode()
    assert OutboundEmail.objects.filter(template="invitation").count() == 1
    again = staff_client.post(reverse("team:invite"), data)  # a double submit invites once
    assert again.status_code == 200
    assert "already uses this email address" in again.content.decode()
    assert 'value="Ivy"' in again.content.decode()  # what was typed is shown again
    assert User.objects.filter(email="ivy@example.com").count() == 1


def test_the_invite_form_says_what_is_missing(staff_client):
    response = staff_client.post(reverse("team:invite"), {"role": "admin"})
    text = response.content.decode()
    for message in (
        "Enter the first name.",
        "Enter the last name.",
        "Enter the email address.",
        "Choose staff or practitioner.",
    ):
        assert message in text


def test_the_member_page_both_renderings(staff, staff_client, therapist):
    url = reverse("team:member", args=[therapist.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    for label in ("Change role", "Deactivate", "History"):
        assert label in page.content.decode()
    fragment = staff_client.get(url, headers=HX)
    assert "<html" not in fragment.content.decode() and "Change role" in fragment.content.decode()
    own = staff_client.get(reverse("team:member", args=[staff.pk])).content.decode()
    assert "You cannot deactivate yourself." in own and "You cannot change your own role." in own


def test_role_change_through_the_page(staff_client, therapist):
    response = staff_client.post(
        reverse("team:role", args=[therapist.pk]), {"role": "staff"}, follow=True
    )
    assert "Tess One is now staff." in response.content.decode()
    therapist.refresh_from_db()
    assert therapist.role == "staff"


def test_a_refused_role_change_is_shown_by_the_field(staff, staff_client):
    response = staff_client.post(reverse("team:role", args=[staff.pk]), {"role": "practitioner"})
    assert response.status_code == 200
    assert "You cannot change your own role." in response.content.decode()
    staff.refresh_from_db()
    assert staff.role == "staff"


def test_deactivating_logs_the_person_out_on_their_next_request(
    staff_client, therapist, therapist_client
):
    assert therapist_client.get(reverse("clients:list")).status_code == 200
    response = staff_client.post(reverse("team:deactivate", args=[therapist.pk]), follow=True)
    assert "Tess One is deactivated and logged out everywhere." in response.content.decode()
    refused = therapist_client.get(reverse("clients:list"))
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("login"))
    login = HttpClient().post(reverse("login"), {"username": "therapist", "password": "x"})
    assert login.status_code == 200  # cannot log in again


def test_a_deactivated_staff_members_next_request_is_refused(staff):
    other = UserFactory(role="staff")
    browser = logged_in(other)
    assert browser.get(reverse("team:list")).status_code == 200
    logged_in(staff).post(reverse("team:deactivate", args=[other.pk]))
    response = browser.get(reverse("team:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_one_cannot_deactivate_oneself(staff, staff_client):
    response = staff_client.post(reverse("team:deactivate", args=[staff.pk]))
    assert response.status_code == 200
    assert "You cannot deactivate yourself." in response.content.decode()
    staff.refresh_from_db()
    assert staff.is_active


@pytest.fixture
def coming_session(therapist):
    today = timezone.localdate()
    weekday = (today.weekday() + 3) % 7
    session = SessionFactory(
        practitioner=therapist, weekday=weekday, first_date=next_weekday(weekday, today)
    )
    generate_session_dates(session=session, until=today + timedelta(weeks=3))
    return session


def test_deactivating_a_practitioner_with_coming_sessions_asks_who_takes_over(
    staff_client, therapist, other_therapist, coming_session
):
    url = reverse("team:deactivate", args=[therapist.pk])
    page = staff_client.get(reverse("team:member", args=[therapist.pk])).content.decode()
    assert "leads 1 coming session" in page and "Who takes over their sessions?" in page
    refused = staff_client.post(url)
    assert refused.status_code == 200
    assert "Choose who takes over their coming sessions." in refused.content.decode()
    therapist.refresh_from_db()
    assert therapist.is_active
    done = staff_client.post(url, {"takeover": other_therapist.pk}, follow=True)
    assert "1 coming session handed over to Otto Two." in done.content.decode()
    coming_session.refresh_from_db()
    assert coming_session.practitioner == other_therapist
    assert TeamEvent.objects.filter(kind="session_handed_over").count() == 2


def test_a_takeover_that_is_no_active_practitioner_is_refused(
    staff_client, therapist, coming_session
):
    gone = UserFactory(is_active=False)
    response = staff_client.post(
        reverse("team:deactivate", args=[therapist.pk]), {"takeover": gone.pk}
    )
    assert response.status_code == 200
    assert "Choose an active practitioner" in response.content.decode()
    coming_session.refresh_from_db()
    assert coming_session.practitioner == therapist


def test_reactivate_and_resend_through_the_page(staff, staff_client):
    invitation, _ = invite(staff)
    user = invitation.user
    resent = staff_client.post(reverse("team:resend", args=[user.pk]), follow=True)
    assert "the old link no longer works" in resent.content.decode()
    assert Invitation.objects.filter(user=user).count() == 2
    staff_client.post(reverse("team:deactivate", args=[user.pk]))
    assert team.status_of(User.objects.get(pk=user.pk)) == "deactivated"
    back = staff_client.post(reverse("team:reactivate", args=[user.pk]), follow=True)
    assert "is active again" in back.content.decode()
    refused = staff_client.post(reverse("team:resend", args=[staff.pk]))
    assert "already joined" in refused.content.decode()


def test_an_htmx_post_answers_with_a_location(staff_client, therapist):
    response = staff_client.post(
        reverse("team:role", args=[therapist.pk]), {"role": "staff"}, headers=HX
    )
    assert response.status_code == 200
    assert "HX-Location" in response


def test_state_changing_urls_refuse_get(staff_client, therapist):
    for name in ("team:invite", "team:role", "team:deactivate", "team:reactivate", "team:resend"):
        kwargs = {} if name == "team:invite" else {"user_id": therapist.pk}
        assert staff_client.get(reverse(name, kwargs=kwargs)).status_code == 405, name


def test_the_team_page_runs_the_same_queries_whatever_the_team_size(staff, staff_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(reverse("team:list")).status_code == 200
        return len(queries)

    count()  # the first request of a session writes it
    small = count()
    for i in range(15):
        invite(staff, email=f"person{i}@example.com")
        UserFactory(last_login=timezone.now(), is_active=bool(i % 2))
    assert count() == small <= 4
