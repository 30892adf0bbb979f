"""A small practice for the closure tests: two sessions in two rooms led by two
practitioners, their dates generated around today (never on today's weekday, so
no date is half past), and clients on them in every way a roster holds them."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from scheduling.models import DateAbsence, Session, SessionDate
from scheduling.services import generate_session_dates
from tests.factories import (
    BookingFactory,
    ClientFactory,
    RelationshipFactory,
    RoomFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    UserFactory,
    next_weekday,
)


@dataclass
class ClosureWorld:
    today: date
    piano: Session  # in Studio A, led by practitioner_a
    guitar: Session  # in Studio B, led by practitioner_b
    start: date  # tomorrow: the first day of the two weeks closed in the tests
    end: date  # the last day of those two weeks
    sam: object  # Piano; paid for by Oliver
    leo: object  # Piano; paid for by Oliver too
    oliver: object
    ava: object  # Piano and Guitar; pays for herself
    mia: object  # booked once on the first Piano date in the range
    olivia: object  # Piano, absent by request on the first Piano date in the range

    def dates(self, session, *, start=None, end=None) -> list[SessionDate]:
        return list(
            SessionDate.objects.filter(
                session=session, date__gte=start or self.start, date__lte=end or self.end
            ).order_by("date")
        )


def build_closure_world(practitioner_a=None, practitioner_b=None) -> ClosureWorld:
    today = timezone.localdate()
    practitioner_a = practitioner_a or UserFactory(first_name="Tess", last_name="Piano")
    practitioner_b = practitioner_b or UserFactory(first_name="Otto", last_name="Guitar")
    sessions = []
    for offset, name, room, who in (
        (2, "Piano", "Studio A", practitioner_a),
        (3, "Guitar", "Studio B", practitioner_b),
    ):
        weekday = (today.weekday() + offset) % 7
        session = SessionFactory(
            service=ServiceFactory(name=name),
            room=RoomFactory(name=room),
            practitioner=who,
            weekday=weekday,
            capacity=6,
            first_date=next_weekday(weekday, today - timedelta(weeks=3)),
        )
        generate_session_dates(session=session, until=today + timedelta(weeks=8))
        sessions.append(session)
    piano, guitar = sessions
    start = today + timedelta(days=1)
    end = start + timedelta(days=13)
    oliver = ClientFactory(first_name="Oliver", last_name="Grant")
    sam = ClientFactory(first_name="Sam", last_name="Rivera")
    leo = ClientFactory(first_name="Leo", last_name="Rivera")
    for child in (sam, leo):
        SubscriptionFactory(
            relationship=RelationshipFactory(payer=oliver, attendee=child),
            session=piano,
            first_date=piano.first_date,
        )
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    ava_pays = RelationshipFactory(payer=ava)
    for session in (piano, guitar):
        SubscriptionFactory(relationship=ava_pays, session=session, first_date=session.first_date)
    first_piano = SessionDate.objects.filter(session=piano, date__gte=start).earliest("date")
    mia = ClientFactory(first_name="Mia", last_name="Moss")
    BookingFactory(relationship=RelationshipFactory(payer=mia), session_date=first_piano)
    olivia = ClientFactory(first_name="Olivia", last_name="Zane")
    olivia_sub = SubscriptionFactory(
        relationship=RelationshipFactory(payer=olivia), session=piano, first_date=piano.first_date
    )
    DateAbsence.objects.create(subscription=olivia_sub, session_date=first_piano)
    return ClosureWorld(
        today=today,
        piano=piano,
        guitar=guitar,
        start=start,
        end=end,
        sam=sam,
        leo=leo,
        oliver=oliver,
        ava=ava,
        mia=mia,
        olivia=olivia,
    )
