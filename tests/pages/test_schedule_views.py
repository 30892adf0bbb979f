"""The schedule, the session-date view, unenroll/undo and the transfer placeholder:
both renderings, the rules, and who may do what."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clients.models import ClientEvent
from scheduling.models import DateAbsence, SessionDate
from scheduling.selectors import week_start
from tests.factories import (
    BookingFactory,
    ServiceFactory,
    SessionDateFactory,
    SessionFactory,
    coming_date,
)
from tests.support.transfer import transfer_start_forms

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def schedule(client, **params):
    return client.get(reverse("scheduling:schedule"), params)


def text(response) -> str:
    return response.content.decode()


# --- the schedule --------------------------------------------------------------------


def test_the_week_view_is_the_default(staff_client, world):
    response = schedule(staff_client, date=f"{world.date.date:%Y-%m-%d}")
    body = text(response)
    start = week_start(world.date.date)
    assert f"Week of {start.day} {start:%B %Y}" in body
    assert "Piano, 30 min private" in body
    assert "1 of 3 places free" in body and '<meter min="0" max="3" value="2"' in body
    url = reverse("scheduling:session-date", args=[world.date.pk])
    assert f'href="{url}" hx-get="{url}"' in body  # the panel, and the page without JS


def test_day_and_month_views(staff_client, world):
    day = text(schedule(staff_client, view="day", date=f"{world.date.date:%Y-%m-%d}"))
    assert f"{world.date.date:%A} {world.date.date.day} {world.date.date:%B %Y}" in day
    assert "Piano, 30 min private" in day
    month = text(schedule(staff_client, view="month", date=f"{world.date.date:%Y-%m-%d}"))
    assert f"{world.date.date:%B %Y}</h1>" in month
    assert 'class="chip' in month


def test_full_and_cancelled_dates_look_different(staff_client, world):
    world.session.capacity = 2
    world.session.save()
    cancelled = coming_date(world.session, weeks=2)
    SessionDate.objects.filter(pk=cancelled.pk).update(cancelled=True, cancel_reason="Bank holiday")
    full = text(schedule(staff_client, date=f"{world.date.date:%Y-%m-%d}"))
    assert 'class="slot full"' in full and "<strong>Full</strong>" in full
    off = text(schedule(staff_client, date=f"{cancelled.date:%Y-%m-%d}"))
    assert 'class="slot cancelled"' in off and "Cancelled: Bank holiday" in off


def test_previous_next_and_today_keep_the_filters(staff_client, world):
    body = text(
        schedule(
            staff_client,
            date=f"{world.date.date:%Y-%m-%d}",
            service=str(world.session.service_id),
        )
    )
    start = week_start(world.date.date)
    for day in (start - timedelta(days=7), start + timedelta(days=7), timezone.localdate()):
        assert f"date={day:%Y-%m-%d}&amp;service={world.session.service_id}" in body or (
            f"service={world.session.service_id}&amp;date={day:%Y-%m-%d}" in body
        )
    assert "Clear filters" in body


def test_filters_narrow_the_dates(staff_client, world):
    other = SessionFactory(service=ServiceFactory(name="Choir"), weekday=world.session.weekday)
    coming_date(other)
    day = f"{world.date.date:%Y-%m-%d}"
    both = text(schedule(staff_client, date=day))
    assert "Choir" in both.split('class="legend')[1]
    for params in (
        {"service": world.session.service_id},
        {"room": world.session.room_id},
        {"practitioner": world.session.practitioner_id},
    ):
        body = text(schedule(staff_client, date=day, **params)).split('class="legend')[1]
        assert "Piano, 30 min private" in body
        assert "Choir" not in body, params


@pytest.mark.parametrize(
    "params",
    [
        {"date": "2026-02-30"},
        {"date": "not-a-date"},
        {"date": "0001-01-01"},
        {"date": "9999-12-31"},
        {"view": "year"},
        {"service": "abc"},
        {"room": "99999999999999999999"},
        {"practitioner": "-1"},
        {"date": "2026-01-01", "view": "month", "service": ""},
    ],
)
def test_no_input_a_browser_can_send_breaks_the_schedule(staff_client, params):
    response = schedule(staff_client, **params)
    assert response.status_code == 200
    assert "Week of" in text(response) or "view" not in params or params["view"] == "month"


def test_a_bad_date_is_explained_and_today_shown(staff_client):
    body = text(schedule(staff_client, date="1850-01-01"))
    assert "Pick a date between 2000 and 2100." in body
    start = week_start(timezone.localdate())
    assert f"Week of {start.day} {start:%B %Y}" in body


def test_a_practitioner_sees_only_their_own_sessions(therapist_client, world, other_therapist):
    theirs = SessionFactory(practitioner=other_therapist, service__name="Guitar, 45 min")
    coming_date(theirs)
    body = text(schedule(therapist_client, date=f"{world.date.date:%Y-%m-%d}"))
    assert "Piano, 30 min private" in body
    assert "Guitar, 45 min</span>" not in body
    assert 'name="practitioner"' not in body  # nothing to choose between
    asked = schedule(
        therapist_client,
        date=f"{world.date.date:%Y-%m-%d}",
        practitioner=other_therapist.pk,
    )
    assert "Guitar, 45 min</span>" not in text(asked)


def test_the_schedule_fragment_is_the_schedule_alone(staff_client, world):
    response = staff_client.get(
        reverse("scheduling:schedule"), {"date": f"{world.date.date:%Y-%m-%d}"}, headers=HX
    )
    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body and "<dialog" not in body
    assert body.lstrip().startswith('<div id="schedule"')
    assert "Piano, 30 min private" in body
    boosted = staff_client.get(reverse("scheduling:schedule"), headers={**HX, "HX-Boosted": "true"})
    assert "<html" in text(boosted)


# --- the session-date view ------------------------------------------------------------


def session_date_url(session_date):
    return reverse("scheduling:session-date", args=[session_date.pk])


def test_the_session_date_page_shows_details_and_roster(staff_client, world):
    body = text(staff_client.get(session_date_url(world.date)))
    assert "<html" in body
    for expected in (
        "Piano, 30 min private",
        world.session.practitioner.display_name,
        world.session.room.name,
        "1 of 3 places free",
        "Third party",
        "First party",
        "Oliver Grant</a> pays",
        "Sam Rivera",
        "Actions for Sam Rivera",
        "Transfer to another session",
        "Unenroll from this date only",
    ):
        assert expected in body, expected
    # relationship type, then below it the attendee
    assert body.index("Third party") < body.index("Oliver Grant") < body.index("Sam Rivera</a>")
    assert (str(world.sam_sub.pk), f"{world.date.date:%Y-%m-%d}") in transfer_start_forms(body)
    assert reverse("scheduling:unenroll", args=[world.date.pk, world.sam_sub.pk]) in body


def test_the_session_date_fragment_is_the_panel(staff_client, world):
    response = staff_client.get(session_date_url(world.date), headers=HX)
    body = text(response)
    assert "<html" not in body and "Back to the schedule" not in body
    assert body.lstrip().startswith("<article")
    assert "Sam Rivera" in body and 'id="panel-title"' in body


def test_a_practitioner_unenrolls_but_does_not_transfer(therapist_client, world):
    body = text(therapist_client.get(session_date_url(world.date)))
    assert "Unenroll from this date only" in body
    assert "Transfer to another session" not in body


def test_a_cancelled_date_says_so_and_offers_no_unenroll(staff_client, world):
    SessionDate.objects.filter(pk=world.date.pk).update(
        cancelled=True, cancel_reason="Bank holiday"
    )
    body = text(staff_client.get(session_date_url(world.date)))
    assert "Cancelled: Bank holiday" in body
    assert "every subscription stays as it is" in body
    assert "Unenroll from this date only" not in body
    assert "This date is cancelled: its roster no longer changes." in body


def test_a_past_date_offers_no_unenroll(staff_client, world):
    past = SessionDateFactory(session=world.session, date=world.date.date - timedelta(weeks=3))
    body = text(staff_client.get(session_date_url(past)))
    assert "Sam Rivera" in body
    assert "Unenroll from this date only" not in body
    assert "This date has passed" in body


def test_a_booking_shows_on_the_roster_without_unenroll(staff_client, world):
    BookingFactory(
        session_date=world.date,
        relationship__payer__first_name="Bea",
        relationship__payer__last_name="Booked",
    )
    body = text(staff_client.get(session_date_url(world.date)))
    row = body.split("Bea Booked</a>")[1].split("</li>")[0]
    assert "One-off booking" in row
    assert "there is no subscription to transfer or to unenroll from" in row
    assert "Unenroll from this date only" not in row


# --- unenroll and undo ------------------------------------------------------------------


def unenroll_url(world):
    return reverse("scheduling:unenroll", args=[world.date.pk, world.sam_sub.pk])


def undo_url(world):
    return reverse("scheduling:undo-unenroll", args=[world.date.pk, world.sam_sub.pk])


def test_unenroll_without_htmx_redirects_to_the_date_with_a_message(staff_client, world):
    response = staff_client.post(unenroll_url(world))
    assert response.status_code == 302
    assert response["Location"] == session_date_url(world.date)
    assert DateAbsence.objects.filter(subscription=world.sam_sub, session_date=world.date).exists()
    page = text(staff_client.get(response["Location"]))
    assert "Sam Rivera is unenrolled from this date only" in page
    assert "Absent by request" in page
    assert "Undo<span" in page and undo_url(world) in page
    assert "2 of 3 places free" in page


def test_unenroll_with_htmx_re_renders_the_roster(staff_client, world):
    response = staff_client.post(unenroll_url(world), headers=HX)
    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<section id="roster-{world.date.pk}"')
    assert "Absent by request" in body and "Undo" in body
    assert "roster-changed" in response["HX-Trigger"]  # the schedule behind refreshes


def test_the_unenroll_confirmation_offers_undo(staff_client, world):
    fragment = text(staff_client.post(unenroll_url(world), headers=HX))
    notice = fragment[
        fragment.index('role="status"') : fragment.index("</p>", fragment.index('role="status"'))
    ]
    assert "unenrolled from this date only" in notice and f'form="undo-{world.date.pk}"' in notice
    assert f'hx-post="{undo_url(world)}"' in fragment
    DateAbsence.objects.all().delete()
    page = text(staff_client.post(unenroll_url(world), follow=True))
    assert f'<form method="post" action="{undo_url(world)}" class="inline-form undo-form">' in page
    SessionDate.objects.filter(pk=world.date.pk).update(cancelled=True, cancel_reason="Snow")
    refused = text(staff_client.post(unenroll_url(world), headers=HX))
    assert 'role="alert"' in refused and 'form="undo-' not in refused  # nothing to undo


def test_undo_puts_the_client_back(staff_client, world):
    staff_client.post(unenroll_url(world))
    response = staff_client.post(undo_url(world), headers=HX)
    assert "Sam Rivera is back on the roster for this date." in text(response)
    assert "Absent by request" not in text(response)
    assert not DateAbsence.objects.exists()
    assert ClientEvent.objects.filter(
        client=world.sam, kind=ClientEvent.Kind.REENROLLED_DATE
    ).exists()


def test_a_refusal_is_shown_and_nothing_changes(staff_client, world):
    SessionDate.objects.filter(pk=world.date.pk).update(cancelled=True, cancel_reason="Snow")
    response = staff_client.post(unenroll_url(world), headers=HX)
    assert 'role="alert"' in text(response) and "This date is cancelled (Snow)" in text(response)
    response = staff_client.post(unenroll_url(world), follow=True)
    assert "This date is cancelled (Snow)" in text(response)
    assert not DateAbsence.objects.exists()


def test_unenroll_and_undo_answer_405_to_get(staff_client, world):
    assert staff_client.get(unenroll_url(world)).status_code == 405
    assert staff_client.get(undo_url(world)).status_code == 405
    assert not DateAbsence.objects.exists()


def test_the_sessions_practitioner_may_unenroll(therapist_client, world):
    assert therapist_client.post(unenroll_url(world)).status_code == 302
    assert DateAbsence.objects.count() == 1


def test_another_practitioner_gets_404_and_nothing_changes(other_client, world):
    assert other_client.post(unenroll_url(world)).status_code == 404
    assert other_client.post(unenroll_url(world), headers=HX).status_code == 404
    assert other_client.get(session_date_url(world.date)).status_code == 404
    assert other_client.get(session_date_url(world.date), headers=HX).status_code == 404
    assert not DateAbsence.objects.exists()


def test_a_subscription_of_another_session_is_404(staff_client, world, c2_world):
    url = reverse("scheduling:unenroll", args=[world.date.pk, c2_world["subscription"].pk])
    assert staff_client.post(url).status_code == 404


def test_logged_out_users_go_to_login(client, world):
    for response in (
        client.get(session_date_url(world.date)),
        client.post(unenroll_url(world)),
        client.post(undo_url(world)),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert not DateAbsence.objects.exists()


# --- the transfer's entry point ------------------------------------------------------------


def start_transfer(client, subscription_id, day=""):
    url = reverse("scheduling:transfer-start")
    return client.post(url, {"subscription": subscription_id, "date": day})


def test_the_roster_entry_point_opens_the_wizard_from_that_date(staff_client, world):
    from frontdesk.models import TransferDraft

    day = f"{world.date.date:%Y-%m-%d}"
    response = start_transfer(staff_client, world.sam_sub.pk, day)
    draft = TransferDraft.objects.get()
    assert response["Location"].endswith(f"/transfer/{draft.public_id}/target/")
    assert draft.transfer_date == world.date.date and draft.subscription == world.sam_sub
    body = text(staff_client.get(response["Location"]))
    assert "Sam Rivera" in body and "Piano, 30 min private" in body
    assert "Oliver Grant pays, and goes on paying" in body


@pytest.mark.parametrize("day", ["2026-02-30", "nonsense", ""])
def test_the_entry_point_copes_with_a_bad_date(staff_client, world, day):
    response = start_transfer(staff_client, world.sam_sub.pk, day)
    assert response.status_code == 302


@pytest.mark.parametrize("raw", ["abc", "", "-3", "99999999999999999999999", "0", "²", "٣"])
def test_the_entry_point_404s_on_a_bad_id(staff_client, raw):
    assert start_transfer(staff_client, raw).status_code == 404


def test_starting_a_transfer_writes_so_it_is_a_post(staff_client, world):
    from frontdesk.models import TransferDraft

    url = reverse("scheduling:transfer-start")
    assert staff_client.get(url, {"subscription": world.sam_sub.pk}).status_code == 405
    assert not TransferDraft.objects.exists()


def test_transfers_are_for_staff(therapist_client, other_client, world):
    assert start_transfer(therapist_client, world.sam_sub.pk).status_code == 403
    assert start_transfer(other_client, world.sam_sub.pk).status_code == 404
