"""The staff pages on the large demo practice (seed_demo --size large): a fixed
number of queries per page and fragment, and indexes under the schedule and
roster queries."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice
from clients.models import Client
from opus.models import User
from relationships.models import Relationship
from scheduling.models import Booking, DateAbsence, Session, SessionDate, Subscription
from scheduling.selectors import roster_for, with_enrollment
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def owner(large_practice):
    return User.objects.get(username="owner")


@pytest.fixture
def owner_client(owner):
    client = logged_in(owner)
    client.get(reverse("scheduling:schedule"))  # the session's first write happens here
    return client


@pytest.fixture
def maria_client(large_practice):
    client = logged_in(User.objects.get(username="maria"))
    client.get(reverse("scheduling:schedule"))
    return client


def busiest_date() -> SessionDate:
    """A coming date of the session with the most subscriptions."""
    session = Session.objects.annotate(n=Count("subscriptions")).order_by("-n", "pk").first()
    return (
        SessionDate.objects.filter(session=session, date__gte=timezone.localdate())
        .order_by("date")
        .first()
    )


def richest_client() -> Client:
    """The client with the most invoices (as payer), then subscriptions."""
    return (
        Client.objects.annotate(i=Count("invoices", distinct=True), s=Count("subscriptions"))
        .order_by("-i", "-s", "pk")
        .first()
    )


def test_the_practice_is_large_enough_for_an_n_plus_one_to_show(large_practice):
    today = timezone.localdate()
    week = SessionDate.objects.filter(date__gte=today, date__lt=today + timedelta(days=7))
    assert week.count() >= 150
    assert Client.objects.count() >= 500
    assert Invoice.objects.count() >= 100


@pytest.mark.parametrize("view", ["week", "day", "month", "day-rooms"])
def test_the_schedule_runs_a_fixed_number_of_queries(
    owner_client, view, django_assert_max_num_queries
):
    params = {"view": "day", "across": "room"} if view == "day-rooms" else {"view": view}
    view = params["view"]
    with django_assert_max_num_queries(6):
        response = owner_client.get(reverse("scheduling:schedule"), params)
    assert response.status_code == 200
    rendered = response.content.decode().count('class="slot') + response.content.decode().count(
        'class="chip'
    )
    assert (
        rendered >= {"day": 20, "week": 150, "month": 120}[view]
    )  # month: 4 a day, then "+n more"


def test_the_schedule_fragment_and_a_practitioners_schedule_too(
    owner_client, maria_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):  # the chosen service is checked against its choices
        response = owner_client.get(
            reverse("scheduling:schedule"), {"view": "month", "service": "1"}, headers=HX
        )
    assert response.status_code == 200
    assert b"<html" not in response.content
    with django_assert_max_num_queries(5):  # no practitioner choice to list
        response = maria_client.get(reverse("scheduling:schedule"))
    assert response.status_code == 200


def test_the_session_date_view_runs_a_fixed_number_of_queries(
    owner_client, django_assert_max_num_queries
):
    session_date = busiest_date()
    url = reverse("scheduling:session-date", args=[session_date.pk])
    with django_assert_max_num_queries(5):
        page = owner_client.get(url)
    with django_assert_max_num_queries(5):
        fragment = owner_client.get(url, headers=HX)
    assert page.status_code == fragment.status_code == 200
    assert page.content.count(b'class="roster-row') >= 10


def test_the_roster_change_fragment_runs_a_fixed_number_of_queries(
    owner_client, django_assert_max_num_queries
):
    session_date = busiest_date()
    subscription = Subscription.objects.filter(session=session_date.session).first()
    url = reverse("scheduling:unenroll", args=[session_date.pk, subscription.pk])
    with django_assert_max_num_queries(16):  # locks, the absence, the history row, the roster
        response = owner_client.post(url, headers=HX)
    assert b"Absent by request" in response.content


def test_today_and_the_quick_search_run_a_fixed_number_of_queries(
    owner_client, maria_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(16):  # + the billing runs waiting (count, first few)
        response = owner_client.get(reverse("home"))
    assert response.status_code == 200 and b"Mark attendance" in response.content
    with django_assert_max_num_queries(6):
        response = maria_client.get(reverse("home"))
    assert response.status_code == 200
    for q in ("a", "ava", "INV-000001"):
        with django_assert_max_num_queries(5):
            response = owner_client.get(reverse("search"), {"q": q}, headers=HX)
        assert response.status_code == 200


def test_the_clients_list_and_search_run_a_fixed_number_of_queries(
    owner_client, django_assert_max_num_queries
):
    url = reverse("clients:list")
    with django_assert_max_num_queries(4):
        page = owner_client.get(url, {"sort": "activity", "page": "3"})
    with django_assert_max_num_queries(4):
        fragment = owner_client.get(url, {"q": "ava"}, headers=HX)
    with django_assert_max_num_queries(4):
        by_phone = owner_client.get(url, {"q": "07700 9"}, headers=HX)
    assert page.status_code == fragment.status_code == by_phone.status_code == 200
    assert page.content.count(b"<tr>") == 25 + 1  # a full page of clients and the header
    assert b"Ava " in fragment.content or b", Ava<" in fragment.content


def test_the_client_profile_runs_a_fixed_number_of_queries(
    owner_client, maria_client, django_assert_max_num_queries
):
    client = richest_client()
    url = reverse("clients:detail", args=[client.pk])
    # 13: one query per section (make-up credits included), plus the transfers and the card
    # panel (cards, latest request)
    with django_assert_max_num_queries(14):
        page = owner_client.get(url)
    with django_assert_max_num_queries(14):
        fragment = owner_client.get(url, headers=HX)
    assert page.status_code == fragment.status_code == 200
    # one more query per section would show as soon as the practice grows:
    sam = Client.objects.get(first_name="Sam", last_name="Rivera")
    with django_assert_max_num_queries(14):
        assert maria_client.get(reverse("clients:detail", args=[sam.pk])).status_code == 200


# --- EXPLAIN: the schedule and roster queries use indexes -------------------------------

SCALING_TABLES = (
    "scheduling_sessiondate",
    "scheduling_subscription",
    "scheduling_dateabsence",
    "scheduling_booking",
)


@pytest.fixture
def busy_rosters(large_practice):
    """Absences and one-off bookings by the thousand (the seed has almost none),
    so that the planner has a reason to pick an index on them too. They ignore the
    places (planner fodder, not rosters) and are deleted after the test."""
    today = timezone.localdate()
    seeded = set(Booking.objects.values_list("pk", flat=True))
    dates_by_session = {}
    for session_date in SessionDate.objects.filter(date__gte=today).order_by("date"):
        dates_by_session.setdefault(session_date.session_id, []).append(session_date)
    absences = []
    for subscription in Subscription.objects.filter(end_date__isnull=True):
        absences.extend(
            DateAbsence(subscription=subscription, session_date=session_date)
            for session_date in dates_by_session.get(subscription.session_id, [])[:6]
        )
    DateAbsence.objects.bulk_create(absences)
    relationships = list(Relationship.objects.filter(kind="first_party").order_by("pk")[:300])
    all_dates = [d for dates in dates_by_session.values() for d in dates]
    bookings = [
        Booking(
            client_id=relationship.attendee_id,
            relationship=relationship,
            session_date=all_dates[(i * 37 + j * 101) % len(all_dates)],
            price=Decimal("30.00"),
        )
        for i, relationship in enumerate(relationships)
        for j in range(8)
    ]
    Booking.objects.bulk_create(bookings, ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_dateabsence")
        cursor.execute("ANALYZE scheduling_booking")
    assert DateAbsence.objects.count() > 1000 and Booking.objects.count() > 1000
    yield
    Booking.objects.exclude(pk__in=seeded).delete()
    DateAbsence.objects.filter(pk__in=[absence.pk for absence in absences]).delete()


def plans_of(queries) -> list[str]:
    plans = []
    with connection.cursor() as cursor:
        for query in queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def assert_no_sequential_scan(plans: list[str]) -> None:
    touched = [p for p in plans if any(t in p for t in SCALING_TABLES)]
    assert touched, "no query of the scheduling tables was captured"
    for plan in touched:
        scanned = set(re.findall(r"Seq Scan on (\w+)", plan))
        assert not scanned & set(SCALING_TABLES), plan


def test_the_schedule_queries_use_indexes(owner_client, maria_client, busy_rosters):
    for client, params in (
        (owner_client, {"view": "week"}),
        (owner_client, {"view": "month"}),
        (owner_client, {"view": "day", "service": "2"}),
        (maria_client, {"view": "week"}),
    ):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("scheduling:schedule"), params).status_code == 200
        assert_no_sequential_scan(plans_of(captured.captured_queries))


def test_the_roster_queries_use_indexes(owner_client, busy_rosters):
    session_date = busiest_date()
    with CaptureQueriesContext(connection) as captured:
        roster = roster_for(session_date)
        enrolled = with_enrollment(SessionDate.objects.filter(pk=session_date.pk)).get().enrolled
    assert enrolled == roster.count
    assert_no_sequential_scan(plans_of(captured.captured_queries))
    with CaptureQueriesContext(connection) as captured:
        url = reverse("scheduling:session-date", args=[session_date.pk])
        assert owner_client.get(url).status_code == 200
    assert_no_sequential_scan(plans_of(captured.captured_queries))


def test_the_client_search_can_use_an_index_for_every_kind_of_term(owner):
    """Issue 17: no full scan of the clients for a search (core PostgreSQL only:
    full text for the name's words, text_pattern_ops for the email and phone).
    With sequential scans priced out, each plan still reaches for an index."""
    from clients.selectors import search_clients

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    for q, index in (
        ("ava", "client_name_words_idx"),
        ("ava.a", "client_email_prefix_idx"),
        ("07700 9", "client_phone_prefix_idx"),
        ("456", "client_phone_suffix_idx"),
    ):
        sql, params = search_clients(owner, q=q).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert index in plan, (q, plan)
        assert "Seq Scan on clients_client" not in plan, (q, plan)
