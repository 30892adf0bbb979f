"""Load the demo practice: every feature has something to show.

Idempotent: a database that already holds a practice is left as it is.
``--size large`` builds a practice ten times larger, for benchmarks; ``--size huge``
a hundred times (the bench's growth check: bench/growth.py).
"""

import random
import secrets
from datetime import date, time, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing import services as billing
from billing.models import Invoice, Payment, PaymentMethod
from clients.models import Client, ClientEvent
from clients.services import record_event
from devkit.models import SimulatedGatewayCard
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.models import User
from relationships.models import Relationship
from relationships.services import create_relationship
from scheduling.models import Booking, Room, Service, Session, SessionDate, Subscription
from scheduling.services import enroll, generate_session_dates, horizon

DEMO_PASSWORD = "opus-demo-2026"  # noqa: S105 - documented demo login, never in production

STAFF = [("owner", "Olivia", "Hart"), ("frontdesk", "Frank", "Dale")]
PRACTITIONERS = [
    ("maria", "Maria", "Lopez"),
    ("james", "James", "Okoro"),
    ("priya", "Priya", "Shah"),
]
FIRST_NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Daniel",
    "Ella",
    "Finn",
    "Georgia",
    "Harry",
    "Isla",
    "Jack",
    "Kate",
    "Leo",
    "Mia",
    "Noah",
    "Orla",
    "Pete",
    "Quinn",
    "Rosa",
    "Sean",
    "Tara",
    "Uma",
    "Victor",
    "Willa",
    "Xavier",
    "Yara",
    "Zach",
    "Amir",
    "Bea",
    "Cal",
    "Dina",
]
LAST_NAMES = [
    "Adams",
    "Baker",
    "Clarke",
    "Dawson",
    "Evans",
    "Fraser",
    "Gill",
    "Hughes",
    "Irwin",
    "Jones",
    "Kaur",
    "Lewis",
    "Moore",
    "Nolan",
    "Owens",
    "Patel",
    "Reid",
    "Singh",
    "Turner",
    "Walker",
    "Young",
    "Zhou",
    "Murphy",
    "Byrne",
    "Khan",
    "Price",
]
SERVICES = [
    ("Piano, 30 min private", "per_session", Decimal("32.00"), None, 1),
    ("Guitar, 45 min private", "per_session", Decimal("40.00"), None, 1),
    ("Junior guitar group", "monthly", Decimal("96.00"), 4, 6),
    ("Choir", "monthly", Decimal("60.00"), 4, 12),
    ("Counselling, 50 min", "per_session", Decimal("65.00"), None, 1),
    ("Maths tutoring, 60 min", "per_session", Decimal("45.00"), None, 1),
]
DURATIONS = {
    "Piano, 30 min private": 30,
    "Guitar, 45 min private": 45,
    "Junior guitar group": 60,
    "Choir": 60,
    "Counselling, 50 min": 50,
    "Maths tutoring, 60 min": 60,
}
ROOMS = ["Studio A", "Studio B", "Blue room", "Garden room"]
SCALES = {"normal": 1, "large": 10, "huge": 100}


class Command(BaseCommand):
    help = "Load the demo practice (does nothing when one is already loaded)."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=list(SCALES), default="normal")

    def handle(self, *args, size: str, **options):
        if Service.objects.exists():
            self.stdout.write("A practice is already loaded; nothing to do.")
            return
        scale = SCALES[size]
        with transaction.atomic():
            Seeder(scale=scale, stdout=self.stdout).run()
        self.stdout.write(self.style.SUCCESS(f"Demo practice loaded ({size})."))


class Seeder:
    def __init__(self, *, scale: int, stdout):
        self.scale = scale
        self.stdout = stdout
        self.rng = random.Random(2026)
        self.today = timezone.localdate()
        self.start = self.today - timedelta(weeks=10)
        self.until = horizon(self.today)  # the rolling horizon keeps it there

    def run(self) -> None:
        self.users()
        self.catalogue()
        self.sessions()
        self.story_clients()
        self.population()
        self.holiday()
        self.invoices()

    # --- people -------------------------------------------------------------------
    def users(self) -> None:
        for username, first, last in STAFF:
            self._user(username, first, last, User.Role.STAFF, superuser=username == "owner")
        self.practitioners = [
            self._user(u, f, lname, User.Role.PRACTITIONER) for u, f, lname in PRACTITIONERS
        ]
        for i in range(3 * (self.scale - 1)):
            first, last = FIRST_NAMES[i % 30], LAST_NAMES[(i * 7) % 26]
            self.practitioners.append(
                self._user(f"practitioner{i + 4}", first, last, User.Role.PRACTITIONER)
            )

    def _user(self, username, first, last, role, superuser=False) -> User:
        user = User(
            username=username,
            first_name=first,
            last_name=last,
            role=role,
            email=f"{username}@opus.localhost",
            is_staff=superuser,
            is_superuser=superuser,
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _client(self, first, last, *, born=None, email=True, phone=True, address=True) -> Client:
        handle = f"{first}.{last}".lower().replace(" ", "")
        return Client.objects.create(
            first_name=first,
            last_name=last,
            email=f"{handle}@example.com" if email else "",
            phone=f"07700 9{self.rng.randint(0, 99999):05d}" if phone else "",
            date_of_birth=born,
            address=self._address() if address else "",
        )

    def _address(self) -> str:
        street = self.rng.choice(["Mill", "Harbour", "Church", "Station"])
        return f"{self.rng.randint(1, 120)} {street} Lane\nBristol BS{self.rng.randint(1, 16)}"

    def _born(self, years: int, days: int = 0) -> date:
        born = (
            self.today.replace(year=self.today.year - years)
            if not (self.today.month == 2 and self.today.day == 29)
            else date(self.today.year - years, 2, 28)
        )
        return born + timedelta(days=days)

    # --- catalogue ------------------------------------------------------------------
    def catalogue(self) -> None:
        self.services = [
            Service.objects.create(
                name=name, billing_basis=basis, price=price, sessions_per_month=per_month
            )
            for name, basis, price, per_month, _ in SERVICES
        ]
        self.capacity = {s.pk: cap for s, (*_, cap) in zip(self.services, SERVICES, strict=True)}
        self.rooms = [Room.objects.create(name=name) for name in ROOMS]
        for i in range(len(ROOMS), len(ROOMS) * self.scale):
            self.rooms.append(Room.objects.create(name=f"Room {i + 1}"))

    def sessions(self) -> None:
        self.all_sessions = []
        count = 20 * self.scale
        for i in range(count):
            service = self.services[i % len(self.services)]
            weekday = i % 6
            start = time(9 + (i // 6) % 10, 0 if i % 2 else 30)
            first = self.start + timedelta(days=(weekday - self.start.weekday()) % 7)
            session = Session.objects.create(
                service=service,
                practitioner=self._practitioner_for(i),
                room=self.rooms[i % len(self.rooms)],
                weekday=weekday,
                start_time=start,
                duration_minutes=DURATIONS[service.name],
                capacity=self.capacity[service.pk],
                first_date=first,
            )
            generate_session_dates(session=session, until=self.until)
            self.all_sessions.append(session)
        self.counselling = next(
            s
            for s in self.all_sessions
            if s.service.name.startswith("Counselling") and s.practitioner.username == "maria"
        )

    def _practitioner_for(self, i: int) -> User:
        if i < 20:  # the three named practitioners share the first twenty sessions
            return self.practitioners[(i + i // 6) % 3]
        return self.practitioners[i % len(self.practitioners)]

    # --- the clients the help articles talk about ------------------------------------
    def story_clients(self) -> None:
        maria = self.counselling.practitioner
        piano = next(s for s in self.all_sessions if s.service.name.startswith("Piano"))
        guitar_group = next(s for s in self.all_sessions if s.service.name == "Junior guitar group")
        maths = next(s for s in self.all_sessions if s.service.name.startswith("Maths"))
        started = self.start + timedelta(weeks=2)

        # an adult paying for a friend: the friend has no card and no phone number
        oliver = self._client("Oliver", "Grant", born=date(1984, 5, 2))
        sam = self._client("Sam", "Rivera", born=date(1996, 9, 14), phone=False)
        self._card(oliver, "visa", "4242")
        friend = create_relationship(
            actor=SYSTEM, payer=oliver, attendee=sam, practitioner=maria, started_on=started
        )
        sams = enroll(
            actor=SYSTEM,
            relationship=friend,
            session=self.counselling,
            first_date=self._on(self.counselling, started),
        )
        self._paid_to_date(sams)
        self._bookings(friend, maths, weeks=(2, 4))

        # a parent paying for a 12-year-old
        helen = self._client("Helen", "Walsh", born=date(1982, 3, 30))
        lily = self._client("Lily", "Walsh", born=self._born(12, -40), email=False, phone=False)
        self._card(helen, "mastercard", "4444")
        child = create_relationship(actor=SYSTEM, payer=helen, attendee=lily, started_on=started)
        enroll(actor=SYSTEM, relationship=child, session=piano, first_date=self._on(piano, started))

        # a parent paying for a child who turns 16 within the month
        david = self._client("David", "Chen", born=date(1979, 11, 8))
        ethan = self._client("Ethan", "Chen", born=self._born(16, 18), phone=False)
        self._card(david, "visa", "1881")
        teen = create_relationship(actor=SYSTEM, payer=david, attendee=ethan, started_on=started)
        enroll(
            actor=SYSTEM,
            relationship=teen,
            session=guitar_group,
            first_date=self._on(guitar_group, started),
        )

        # a third-party attendee who already has a card on file
        ruth = self._client("Ruth", "Okafor", born=date(1961, 1, 21))
        grace = self._client("Grace", "Okafor", born=date(1999, 7, 3))
        self._card(ruth, "amex", "0005")
        self._card(grace, "visa", "5556")
        family = create_relationship(
            actor=SYSTEM, payer=ruth, attendee=grace, practitioner=maria, started_on=started
        )
        counselling_two = next(
            s
            for s in self.all_sessions
            if s.service.name.startswith("Counselling") and s != self.counselling
        )
        enroll(
            actor=SYSTEM,
            relationship=family,
            session=counselling_two,
            first_date=self._on(counselling_two, started),
        )
        # a one-off taster of Maria's choir: a group with places to spare (her
        # counselling slot is Sam's, and one place is one place)
        choir = next(
            s for s in self.all_sessions if s.practitioner == maria and s.service.name == "Choir"
        )
        self._bookings(family, choir, weeks=(3,))

        self.story_payers = [oliver, helen, david, ruth]

    def _paid_to_date(self, subscription: Subscription) -> None:
        """The payer has paid for every session so far; ``invoices()`` then bills the
        next four, so that rebooking after a migration has something to credit."""
        held = SessionDate.objects.filter(
            session=subscription.session,
            date__gte=subscription.first_date,
            date__lt=self.today,
            cancelled=False,
        ).count()
        relationship = subscription.relationship
        invoice = billing.create_draft(
            actor=SYSTEM, payer=relationship.payer, relationship=relationship
        )
        billing.add_charge(
            actor=SYSTEM,
            invoice=invoice,
            description=f"{subscription.session.service.name}: {held} sessions to date",
            unit_price=subscription.price,
            quantity=Decimal(held),
            subscription=subscription,
        )
        invoice = billing.issue_invoice(
            actor=SYSTEM,
            invoice=invoice,
            issued_on=subscription.first_date,
            due_on=subscription.first_date + timedelta(days=14),
        )
        billing.record_payment(
            actor=SYSTEM, invoice=invoice, amount=invoice.total, method=Payment.Method.BANK_TRANSFER
        )

    def _on(self, session: Session, day: date) -> date:
        return day + timedelta(days=(session.weekday - day.weekday()) % 7)

    def _card(self, client: Client, brand: str, last4: str) -> PaymentMethod:
        token = f"sim_tok_{secrets.token_hex(12)}"
        expiry = self.today.year + 2
        SimulatedGatewayCard.objects.create(
            token=token, brand=brand, last4=last4, exp_month=12, exp_year=expiry
        )
        record_event(
            actor=SYSTEM,
            client=client,
            kind=ClientEvent.Kind.CARD,
            summary=f"{brand.title()} ending {last4} added",
        )
        return PaymentMethod.objects.create(
            client=client,
            gateway="simulated",
            token=token,
            brand=brand,
            last4=last4,
            exp_month=12,
            exp_year=expiry,
        )

    def _bookings(self, relationship: Relationship, session: Session, *, weeks) -> None:
        for week in weeks:
            day = self._on(session, self.today + timedelta(weeks=week))
            session_date = SessionDate.objects.get(session=session, date=day)
            Booking.objects.create(
                client=relationship.attendee,
                session_date=session_date,
                relationship=relationship,
                price=session.service.price,
            )
            record_event(
                actor=SYSTEM,
                client=relationship.attendee,
                kind=ClientEvent.Kind.BOOKED,
                summary=f"Booked {session_date}",
                practitioners=[session.practitioner_id],
            )

    # --- everyone else ----------------------------------------------------------------
    def population(self) -> None:
        """Everyone else. ``seats`` is a first guess at the places left (an ended
        subscription frees its place); ``enroll`` checks every date and refuses a
        session full on any of them: the next candidate is tried instead."""
        seats = {s.pk: s.capacity for s in self.all_sessions}
        for sub in Subscription.objects.all():
            seats[sub.session_id] -= 1
        # one private slot of each instrument stays free, so a demo transfer can move a
        # pupil to another private session, not only to a group
        kept_free = {
            next(s.pk for s in reversed(self.all_sessions) if s.service.name.startswith(name))
            for name in ("Piano", "Guitar")
        }
        open_sessions = [s for s in self.all_sessions if seats[s.pk] > 0 and s.pk not in kept_free]
        for i in range(52 * self.scale):
            first = FIRST_NAMES[(i * 11) % 30]
            last = LAST_NAMES[(i * 5 + i // 26) % 26]
            if self.scale > 1:
                last = f"{last}-{LAST_NAMES[(i // 30) % 26]}"
            client = self._client(first, last, born=self._born(18 + (i * 7) % 50, i % 200))
            relationship = create_relationship(
                actor=SYSTEM, payer=client, attendee=client, started_on=self.start
            )
            if i % 3 == 0:
                self._card(client, "visa", f"{1000 + i % 9000:04d}")
            chosen = set()
            for _ in range(1 + (i % 4 == 0)):
                candidates = [s for s in open_sessions if seats[s.pk] > 0 and s.pk not in chosen]
                while candidates:
                    session = self.rng.choice(candidates)
                    candidates.remove(session)
                    chosen.add(session.pk)
                    first_day = self._on(session, self.start + timedelta(weeks=i % 6))
                    end = None
                    if i % 11 == 0:  # a past subscription that has ended
                        end = self._on(session, self.today - timedelta(weeks=2))
                    try:
                        enroll(
                            actor=SYSTEM,
                            relationship=relationship,
                            session=session,
                            first_date=first_day,
                            end_date=end,
                        )
                    except BusinessRuleError:  # full on one of its dates (a story's booking)
                        continue
                    if end is None:
                        seats[session.pk] -= 1
                    break

    def holiday(self) -> None:
        day = self.today + timedelta(weeks=3)
        day -= timedelta(days=day.weekday())  # the Monday three weeks from now
        SessionDate.objects.filter(date=day).update(cancelled=True, cancel_reason="Bank holiday")

    # --- invoices in every status ---------------------------------------------------------
    def invoices(self) -> None:
        subscriptions = list(
            Subscription.objects.select_related("session__service", "relationship__payer").order_by(
                "pk"
            )[: 12 * self.scale]
        )
        statuses = ["open", "paid", "open_overdue", "draft", "void", "closed"]
        for i, subscription in enumerate(subscriptions):
            status = statuses[i % len(statuses)]
            payer = subscription.relationship.payer
            invoice = billing.create_draft(
                actor=SYSTEM, payer=payer, relationship=subscription.relationship
            )
            service = subscription.session.service
            if service.billing_basis == Service.BillingBasis.MONTHLY:
                billing.add_charge(
                    actor=SYSTEM,
                    invoice=invoice,
                    description=f"{service.name}: one month",
                    unit_price=subscription.price,
                    subscription=subscription,
                )
            else:
                billing.add_charge(
                    actor=SYSTEM,
                    invoice=invoice,
                    description=f"{service.name}: 4 sessions",
                    unit_price=subscription.price,
                    quantity=Decimal(4),
                    subscription=subscription,
                )
            if i % 4 == 1:
                billing.add_discount(
                    actor=SYSTEM, invoice=invoice, percent=Decimal(10), reason="Sibling discount"
                )
            if status == "draft":
                continue
            issued = self.today - timedelta(days=30 if status == "open_overdue" else 5)
            if status.startswith("open") and payer.autopay:
                # these payers pay by bank transfer: autopay would settle the invoices
                # the demo keeps open (and the one overdue)
                payer.autopay = False
                payer.save(update_fields=["autopay"])
            invoice = billing.issue_invoice(
                actor=SYSTEM, invoice=invoice, issued_on=issued, due_on=issued + timedelta(days=14)
            )
            if status == "paid":
                billing.record_payment(
                    actor=SYSTEM,
                    invoice=invoice,
                    amount=invoice.total,
                    method=Payment.Method.BANK_TRANSFER,
                    reference="BACS",
                )
            elif status == "void":
                billing.void_invoice(
                    actor=SYSTEM, invoice=invoice, reason="Issued to the wrong payer"
                )
            elif status == "closed":
                billing.close_invoice(
                    actor=SYSTEM, invoice=invoice, reason="Waived: first lesson free"
                )
        assert set(Invoice.objects.values_list("status", flat=True)) == set(Invoice.Status.values)
