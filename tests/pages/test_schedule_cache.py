"""The schedule answers from a cache and is never stale (scheduling/schedule_cache.py).

The staleness test writes through every service that changes what the schedule
shows, in this process, and reads the week, day and month views and the
session-date panels straight after in another process (tests/support/
schedule_reader.py: Django's test client on the same database and cache): what
it is served is what a render with the cache off shows, and something changed."""

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clients.services import update_contact_details
from frontdesk import relationship_flows, transfers, withdrawals
from frontdesk.team import deactivate_team_member
from opus.models import User
from opus.practice import update_practice
from relationships.models import RelationshipMigration
from scheduling import closures, schedule_cache, setup
from scheduling.attendance import mark_all_present, mark_attendance
from scheduling.models import Closure, Session, SessionDate, Subscription
from scheduling.services import (
    enroll,
    generate_session_dates,
    undo_unenroll_from_date,
    unenroll_from_date,
)
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    RoomFactory,
    SessionFactory,
    UserFactory,
)
from tests.support.practice import settings_form
from tests.support.transfer import PAY_LATER, build_world, draft_to
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db(transaction=True)

# a Wednesday morning: the world's dates are built around it, in both processes
NOW = datetime(2026, 11, 25, 10, 5, tzinfo=ZoneInfo("Europe/London"))
HX = {"HX-Request": "true"}
READER = Path(__file__).resolve().parents[1] / "support" / "schedule_reader.py"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _schedule_cache_emptied():
    """Committed tests leave the cache table behind: every test starts empty."""
    caches[schedule_cache.CACHE_ALIAS].clear()
    yield
    caches[schedule_cache.CACHE_ALIAS].clear()


def schedule(**params) -> str:
    return reverse("scheduling:schedule") + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def panel(session_date) -> str:
    return reverse("scheduling:session-date", args=[session_date.pk])


def normalised(html: str) -> str:
    """The page without what differs between two responses of one session."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf", html)
    html = re.sub(r'"x-csrftoken": "[^"]+"', "csrf", html)
    return re.sub(r'nonce="[^"]+"', "nonce", html)


class Reader:
    """The other process."""

    def __init__(self):
        env = {
            **os.environ,
            "READER_DB_NAME": connection.settings_dict["NAME"],
            "READER_NOW": NOW.isoformat(),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(READER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def read(self, user: str, paths: list[str]) -> list[dict]:
        self.process.stdin.write(json.dumps({"user": user, "paths": paths}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def reader():
    reader = Reader()
    yield reader
    reader.close()


@pytest.fixture
def world(staff, therapist, other_therapist):
    w = build_world(therapist)
    dates = SessionDate.objects.filter
    w["monday_date"] = dates(session=w["monday"], date=w["next_monday"]).get()
    w["wednesday_date"] = dates(session=w["wednesday"], date=w["next_wednesday"]).get()
    w["friday_date"] = dates(session=w["friday"], date=w["next_friday"]).get()
    w["past_monday"] = dates(session=w["monday"], date=w["next_monday"] - timedelta(weeks=1)).get()
    w["others"] = SessionFactory(
        practitioner=other_therapist, weekday=1, first_date=w["next_monday"] + timedelta(days=1)
    )
    generate_session_dates(session=w["others"], until=w["next_monday"] + timedelta(weeks=4))
    w["ava"] = w["subscription"].client
    return SimpleNamespace(**w)


def pages(w) -> dict[str, list[str]]:
    week = w.next_monday.isoformat()
    return {
        "staff": [
            schedule(date=week),
            schedule(view="day", date=week),
            schedule(view="month", date=week),
            schedule(view="month", date=(w.next_monday + timedelta(weeks=3)).isoformat()),
            schedule(view="day", across="room", date=w.next_friday.isoformat()),
            reverse("scheduling:schedule"),  # this week, today and now in it
            panel(w.monday_date),
            panel(w.wednesday_date),
            panel(w.friday_date),
            panel(w.past_monday),
        ],
        "therapist": [schedule(date=week), panel(w.monday_date), panel(w.past_monday)],
        "other": [schedule(date=week)],
    }


def read_all(reader, w) -> dict[tuple[str, str], dict]:
    read = {}
    for user, paths in pages(w).items():
        for path, answer in zip(paths, reader.read(user, paths), strict=True):
            read[(user, path)] = answer
    return read


def new_relationship():
    return RelationshipFactory(
        payer=ClientFactory(first_name="Dad"), attendee=ClientFactory(first_name="Ben")
    )


def migrate_ava(w, staff):
    """The relationship migration: Ava pays for herself, her sessions rebooked."""
    PaymentMethodFactory(client=w.ava)
    migration = relationship_flows.start_migration(
        relationship=w.relationship, actor=staff, requested_by="attendee", request_note="rang"
    )
    relationship_flows.save_migration_details(
        migration=migration,
        actor=staff,
        details={
            "email": "ava@example.com",
            "phone": "07700 900456",
            "date_of_birth": "2000-01-01",
            "address": "1 High Street, Bristol",
        },
    )
    result = relationship_flows.confirm_migration(
        migration=RelationshipMigration.objects.get(pk=migration.pk), actor=staff
    )
    relationship_flows.rebook_coming_sessions(
        relationship=result.new_relationship,
        actor=staff,
        booking_ids=[],
        subscription_ids=list(
            Subscription.objects.filter(
                relationship=w.relationship, end_date__isnull=True
            ).values_list("pk", flat=True)
        ),
    )


def close_friday(w, staff):
    closures.close_dates(
        scope=Closure.Scope.PRACTICE,
        first_date=w.next_friday,
        last_date=w.next_friday,
        reason="Boiler broken",
        request_key=uuid.uuid4(),
        actor=staff,
    )


def undo_friday_closure(w, staff):
    closures.undo_closure(closure=Closure.objects.get(), actor=staff)


def cancel_wednesday(w, staff):
    closures.cancel_session_date(session_date=w.wednesday_date, reason="Ill", actor=staff)


def reopen_wednesday(w, staff):
    closures.reopen_session_date(session_date=w.wednesday_date, actor=staff)


def move_friday(w, staff):
    setup.change_session(
        session=w.friday,
        effective_date=w.next_friday,
        start_time=time(16, 0),
        duration_minutes=45,
        practitioner=w.friday.practitioner,
        room=RoomFactory(name="Hall"),
        capacity=3,
        actor=staff,
    )


# Every service that changes what the schedule shows, in an order that keeps each
# one possible: (what it is, the write). Each must change at least one page read.
WRITES = [
    (
        "enrolment",
        lambda w, s: enroll(
            relationship=new_relationship(),
            session=w.friday,
            first_date=w.next_friday,
            actor=s,
        ),
    ),
    (
        "unenrol from one date",
        lambda w, s: unenroll_from_date(
            subscription=w.subscription, session_date=w.monday_date, actor=s
        ),
    ),
    (
        "undo the unenrolment",
        lambda w, s: undo_unenroll_from_date(
            subscription=w.subscription, session_date=w.monday_date, actor=s
        ),
    ),
    ("all present", lambda w, s: mark_all_present(session_date=w.past_monday, actor=s)),
    (
        "attendance",
        lambda w, s: mark_attendance(
            session_date=w.past_monday, client=w.ava, mark="no_show", actor=s
        ),
    ),
    ("cancel a date", cancel_wednesday),
    ("reopen the date", reopen_wednesday),
    ("a closure", close_friday),
    ("undo the closure", undo_friday_closure),
    ("a session edit", move_friday),
    (
        "a service renamed",
        lambda w, s: setup.save_service(
            data={"name": "Piano, half an hour", "price": Decimal("30.00")},
            actor=s,
            service=w.monday.service,
        ),
    ),
    (
        "a room renamed",
        lambda w, s: setup.save_room(name="Studio 9", actor=s, room=w.monday.room),
    ),
    (
        "a client renamed",
        lambda w, s: update_contact_details(client=w.ava, data={"first_name": "Avery"}, actor=s),
    ),
    (
        "the practice's cancellation policy",
        lambda w, s: update_practice(data=settings_form(cancel_notice_hours=48), actor=s),
    ),
    (
        "a one-off booking",
        lambda w, s: relationship_flows.book_session(
            relationship=new_relationship(), actor=s, session_date=w.friday_date
        ),
    ),
    (
        "a transfer",
        lambda w, s: transfers.finish_transfer(
            draft=draft_to(vars(w), s), actor=s, finish=PAY_LATER
        ),
    ),
    ("relationship migration rebooking", migrate_ava),
    (
        "a withdrawal",
        lambda w, s: withdrawals.withdraw_subscription(
            subscription=Subscription.objects.filter(client=w.ava, end_date__isnull=True).get(),
            last_date=w.next_wednesday,
            reason="cost",
            actor=s,
        ),
    ),
    (
        "a new session",
        lambda w, s: setup.create_session(
            service=w.monday.service,
            practitioner=w.monday.practitioner,
            room=None,
            start_time=time(9, 0),
            duration_minutes=30,
            capacity=2,
            first_date=w.next_monday + timedelta(days=3),
            last_date=None,
            actor=s,
        ),
    ),
    (
        "a practitioner deactivated",
        lambda w, s: deactivate_team_member(
            user=User.objects.get(username="other"),
            actor=s,
            takeover=User.objects.get(username="therapist"),
        ),
    ),
    (
        "a session ended",
        lambda w, s: setup.end_session(session=w.friday, last_date=w.next_friday, actor=s),
    ),
    (
        "an update that bypasses the models' save()",
        lambda w, s: SessionDate.objects.filter(pk=w.monday_date.pk).update(
            cancelled=True, cancel_reason="Flood"
        ),
    ),
    (
        "a bulk insert",
        lambda w, s: Subscription.objects.bulk_create(
            [
                Subscription(
                    relationship=r,
                    client_id=r.attendee_id,
                    session=w.others,
                    first_date=w.next_monday + timedelta(days=1),
                    price=Decimal("30.00"),
                )
                for r in [new_relationship()]
            ]
        ),
    ),
]


def test_every_write_to_the_schedule_shows_straight_away_in_another_process(world, staff, reader):
    before = read_all(reader, world)
    for name, write in WRITES:
        read_all(reader, world)  # every page in the cache
        write(world, staff)
        after = read_all(reader, world)
        for (user, path), answer in after.items():
            assert answer["status"] == 200, (name, user, path)
            assert normalised(answer["served"]) == normalised(answer["fresh"]), (
                f"{name}: {user} was served a stale {path}"
            )
        changed = [
            page
            for page, answer in after.items()
            if normalised(answer["served"]) != normalised(before[page]["served"])
        ]
        assert changed, f"{name} changed nothing the schedule shows"
        before = after


def test_the_staleness_test_sees_a_stale_page(world, staff, reader):
    """With the version left as it was, the other process is served the old page:
    the test above can fail."""
    week = schedule(date=world.next_monday.isoformat())
    reader.read("staff", [week])
    with mock.patch.object(schedule_cache, "bump"):
        unenroll_from_date(
            subscription=world.subscription, session_date=world.monday_date, actor=staff
        )
    [answer] = reader.read("staff", [week])
    assert normalised(answer["served"]) != normalised(answer["fresh"])


# --- in this process -------------------------------------------------------------------


def test_a_second_read_answers_from_the_cache_with_fewer_queries(world, staff):
    browser = logged_in(staff)
    for path in (schedule(date=world.next_monday.isoformat()), panel(world.monday_date)):
        with CaptureQueriesContext(connection) as first:
            miss = browser.get(path)
        for headers in ({}, HX):  # the page and the fragment share the cached fragment
            with CaptureQueriesContext(connection) as second:
                hit = browser.get(path, headers=headers)
            assert miss.status_code == hit.status_code == 200
            assert normalised(hit.content.decode()) in normalised(miss.content.decode())
            assert len(second) < len(first), path
            read = " ".join(q["sql"] for q in second.captured_queries)
            assert "scheduling_subscription" not in read, path


def test_the_week_from_the_cache_runs_a_fixed_number_of_queries(
    world, staff, django_assert_max_num_queries
):
    browser = logged_in(staff)
    url = schedule(date=world.next_monday.isoformat())
    browser.get(url)
    # the session, the user, the version, the cache
    with django_assert_max_num_queries(4):
        assert browser.get(url).status_code == 200


def test_the_cached_panel_holds_no_csrf_token(world, staff):
    browser = logged_in(staff)
    first = browser.get(panel(world.monday_date), headers=HX).content.decode()
    second = browser.get(panel(world.monday_date), headers=HX).content.decode()
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', first + second))
    assert len(tokens) >= 2, "each response has its own masked token"
    assert schedule_cache.CSRF_MARK not in first + second
    cache_table = caches[schedule_cache.CACHE_ALIAS]._table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {cache_table}")  # noqa: S608
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert stored and not any(token in stored for token in tokens)


def test_a_practitioner_is_never_served_the_staff_page(world, staff, therapist, other_therapist):
    url = schedule(date=world.next_monday.isoformat())
    for_staff = logged_in(staff).get(url, headers=HX).content.decode()
    others = world.others.service.name
    assert others in for_staff and world.monday.service.name in for_staff
    for user in (therapist, other_therapist, therapist):
        served = logged_in(user).get(url, headers=HX).content.decode()
        assert served != for_staff
        assert 'name="practitioner"' not in served  # staff's filter by practitioner
    served = logged_in(therapist).get(url, headers=HX).content.decode()
    assert others not in served
    # the therapist's own panel, then the other therapist's: their own, or 404
    own = panel(world.monday_date)
    logged_in(staff).get(own)
    assert logged_in(other_therapist).get(own).status_code == 404
    assert "Transfer to another session" not in logged_in(therapist).get(own).content.decode()


def test_a_transaction_that_changed_the_schedule_reads_around_the_cache(world, staff):
    url = schedule(date=world.next_monday.isoformat())
    browser = logged_in(staff)
    browser.get(url)  # cached
    with transaction.atomic():
        Session.objects.filter(pk=world.monday.pk).update(capacity=7)
        assert "1/7" in browser.get(url, headers=HX).content.decode()
        transaction.set_rollback(True)
    assert "1/7" not in browser.get(url, headers=HX).content.decode()


def test_a_login_does_not_empty_the_cache(world, staff):
    url = schedule(date=world.next_monday.isoformat())
    another = UserFactory(username="another", role=User.Role.STAFF)
    logged_in(staff).get(url)
    version = schedule_cache.current_version()
    browser = logged_in(another)
    assert schedule_cache.current_version() == version
    with CaptureQueriesContext(connection) as read:
        browser.get(url)
    assert "scheduling_sessiondate" not in " ".join(q["sql"] for q in read.captured_queries)
