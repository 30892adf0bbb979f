"""docs/quality.md Reliability 14, as a property: whatever sequence of enrollments,
one-off bookings, unenrollments from a date, undos and transfers the services
are asked for, no coming session date is ever over capacity. Refusals are
fine; an overbooked date is not."""

from datetime import time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk import relationship_flows as relationships
from frontdesk import transfers
from opus.lib.errors import BusinessRuleError
from scheduling.models import SessionDate, Subscription
from scheduling.selectors import with_enrollment
from scheduling.services import (
    generate_session_dates,
    undo_unenroll_from_date,
    unenroll_from_date,
)
from tests.factories import (
    PaymentMethodFactory,
    RelationshipFactory,
    SessionFactory,
    next_weekday,
)

pytestmark = pytest.mark.django_db

WEEKS = 6
CLIENTS = 4
CLIENT = st.integers(0, CLIENTS - 1)
WEEK = st.integers(0, WEEKS - 1)
SESSION = st.sampled_from(["a", "b"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("weekly"), CLIENT, SESSION, WEEK, st.booleans()),
        st.tuples(st.just("once"), CLIENT, SESSION, WEEK),
        st.tuples(st.just("unenroll"), CLIENT, SESSION, WEEK),
        st.tuples(st.just("undo"), CLIENT, SESSION, WEEK),
        st.tuples(st.just("transfer"), CLIENT, SESSION, WEEK, st.booleans()),
    ),
    min_size=1,
    max_size=12,
)


class Rollback(Exception):
    pass


def over_capacity() -> list:
    """Written with the annotation the pages use, so that it says the same on main."""
    return [
        (d.session_id, d.date, d.enrolled)
        for d in with_enrollment(SessionDate.objects.select_related("session"))
        if d.enrolled > d.session.capacity
    ]


def build(therapist):
    today = timezone.localdate()
    weekday = (today.weekday() + 1) % 7  # dates from tomorrow: none has started
    first = next_weekday(weekday, today + timedelta(days=1))
    sessions = {
        "a": SessionFactory(practitioner=therapist, weekday=weekday, first_date=first, capacity=2),
        "b": SessionFactory(
            practitioner=therapist,
            weekday=weekday,
            start_time=time(15, 0),
            first_date=first,
            capacity=1,
        ),
    }
    for session in sessions.values():
        generate_session_dates(session=session, until=first + timedelta(weeks=WEEKS - 1))
    relationships_ = [RelationshipFactory() for _ in range(CLIENTS)]
    for relationship in relationships_:
        PaymentMethodFactory(client=relationship.attendee)
    return sessions, relationships_


def subscription_on(relationship, session, day):
    return (
        Subscription.objects.filter(client=relationship.attendee, session=session)
        .covering(day)
        .first()
    )


def run(operation, staff, sessions, people) -> None:
    kind, who, which, week, *flag = operation
    relationship, session = people[who], sessions[which]
    session_date = session.dates.order_by("date")[week]
    if kind == "weekly":
        try:
            relationships.book_session(
                relationship=relationship,
                actor=staff,
                session=session,
                first_date=session_date.date,
            )
        except BusinessRuleError as error:
            full = getattr(error, "dates", None)
            if full and flag[0]:  # "accept with those dates skipped"
                relationships.book_session(
                    relationship=relationship,
                    actor=staff,
                    session=session,
                    first_date=session_date.date,
                    skip=full,
                )
    elif kind == "once":
        relationships.book_session(
            relationship=relationship, actor=staff, session_date=session_date
        )
    elif kind in ("unenroll", "undo"):
        subscription = subscription_on(relationship, session, session_date.date)
        if subscription is not None:
            change = unenroll_from_date if kind == "unenroll" else undo_unenroll_from_date
            change(subscription=subscription, session_date=session_date, actor=staff)
    else:  # a transfer to the other session, from this date on
        subscription = subscription_on(relationship, session, session_date.date)
        if subscription is None:
            return
        target = sessions["b" if which == "a" else "a"]
        draft = transfers.start_transfer(
            subscription=subscription, transfer_date=session_date.date, actor=staff
        )
        transfers.choose_target(draft=draft, session=target, actor=staff)
        first = target.dates.get(date=session_date.date).date
        try:
            transfers.choose_dates(
                draft=draft, first_date=first, end_date=session_date.date, actor=staff
            )
        except BusinessRuleError as error:
            full = getattr(error, "dates", None)
            if not (full and flag[0]):
                raise
            transfers.choose_dates(
                draft=draft, first_date=first, end_date=session_date.date, actor=staff, skip=full
            )
        transfers.finish_transfer(
            draft=draft, actor=staff, finish=transfers.Finish(transfers.FINISH_PAY_LATER)
        )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_no_sequence_of_service_calls_overbooks_a_date(staff, therapist, operations):
    try:
        with transaction.atomic():  # each example leaves nothing behind
            sessions, people = build(therapist)
            for operation in operations:
                try:
                    with transaction.atomic():
                        run(operation, staff, sessions, people)
                except BusinessRuleError:
                    pass  # refused, with a reason: that is allowed
                assert over_capacity() == [], operation
            raise Rollback
    except Rollback:
        pass
