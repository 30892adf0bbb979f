"""docs/quality.md Security 2 and 17, generated from the URL resolver: practitioners T1
and T2 share a client, Sam. T2's sessions carry a sentinel service name and price;
on every page and fragment T1 can reach (every route, each with every object of
the shared world it takes, full page and htmx fragment) none of T2's sessions,
invoice lines, totals or history about them appears. Staff and T2 see them: the
sentinels are really there."""

import importlib
from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import Invoice
from clients.models import ClientEvent
from devkit.models import DevMail
from frontdesk import relationship_flows as relationships
from frontdesk import selectors, transfers
from frontdesk.models import TransferDraft
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from scheduling.models import Booking, SessionDate, Subscription
from scheduling.services import enroll, generate_session_dates, unenroll_from_date
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)
from tests.support.access import app_routes
from tests.support.imports import import_job

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
SENTINEL = "Sentinelcounselling"  # the service of T2's sessions
T2_PRICE = Decimal("987.65")  # their price: in every line, total and payment about them
MIXED_TOTAL = "999.65"  # an invoice billing both: T1's 12.00 and T2's 987.65


def coming(session, weeks=1) -> SessionDate:
    """The session's date ``weeks`` weeks after its next one (never today's)."""
    day = next_weekday(session.weekday, timezone.localdate() + timedelta(days=1))
    return SessionDate.objects.get(session=session, date=day + timedelta(weeks=weeks - 1))


def issued(payer, relationship, *lines, pay=None) -> Invoice:
    invoice = billing.create_draft(actor=SYSTEM, payer=payer, relationship=relationship)
    for description, price, extra in lines:  # extra: the subscription, a quantity
        billing.add_charge(
            invoice=invoice, description=description, unit_price=price, actor=SYSTEM, **extra
        )
    invoice = billing.issue_invoice(actor=SYSTEM, invoice=invoice)
    if pay:
        billing.record_payment(actor=SYSTEM, invoice=invoice, amount=pay, method="cash")
    return invoice


@pytest.fixture
def shared(therapist, other_therapist, staff):
    """Pam pays for Sam under a relationship of T1's. Sam has T1's Maths, and T2's
    Sentinelcounselling: a subscription, a one-off booking, a date unenrolled, their
    invoices (one of T2's alone, one billing both), a transfer from a T2 session to
    a T1 one; then Sam migrated to first party, with all of that still coming under
    the old relationship."""
    today = timezone.localdate()
    day = today.weekday()

    def session(name, price, practitioner, offset, **kwargs):
        return SessionFactory(
            service=ServiceFactory(name=name, price=price),
            practitioner=practitioner,
            weekday=(day + offset) % 7,
            start_time=time(11, 30),
            **kwargs,
        )

    maths = session("Maths", Decimal("12.00"), therapist, 1)
    group = session("Maths group", Decimal("12.00"), therapist, 2)
    counselling = session(SENTINEL, T2_PRICE, other_therapist, 3)
    one_off = SessionFactory(
        service=counselling.service, practitioner=other_therapist, weekday=(day + 4) % 7
    )
    moved_from = SessionFactory(
        service=counselling.service, practitioner=other_therapist, weekday=(day + 5) % 7
    )
    for each in (maths, group, counselling, one_off, moved_from):
        generate_session_dates(session=each, until=today + timedelta(weeks=10))
    pam = ClientFactory(first_name="Pam", last_name="Payer")
    sam = ClientFactory(first_name="Sam", last_name="Shared")
    PaymentMethodFactory(client=sam)
    old = relationships.create_relationship(
        payer=pam,
        attendee=sam,
        practitioner=therapist,
        actor=staff,
        started_on=today - timedelta(weeks=6),
    )
    maths_sub = enroll(relationship=old, session=maths, first_date=maths.first_date, actor=staff)
    t2_sub = enroll(
        relationship=old, session=counselling, first_date=counselling.first_date, actor=staff
    )
    leaving = enroll(
        relationship=old, session=moved_from, first_date=moved_from.first_date, actor=staff
    )
    relationships.book_session(
        relationship=old, actor=other_therapist, session_date=coming(one_off, weeks=2)
    )
    unenroll_from_date(subscription=t2_sub, session_date=coming(counselling), actor=other_therapist)
    t2_only = issued(
        pam, old, (f"{SENTINEL}: 1 session", T2_PRICE, {"subscription": t2_sub}), pay="500.00"
    )
    mixed = issued(
        pam,
        old,
        ("Maths: 1 session", Decimal("12.00"), {"subscription": maths_sub}),
        (f"{SENTINEL}: 1 session", T2_PRICE, {"subscription": t2_sub}),
    )
    t1_only = issued(pam, old, ("Maths: 1 session", Decimal("12.00"), {"subscription": maths_sub}))
    issued(
        pam,
        old,
        (f"{SENTINEL}: paid ahead", T2_PRICE, {"subscription": leaving, "quantity": 10}),
        pay=10 * T2_PRICE,
    )
    # Sam moves from T2's session to T1's group, with the unused value as a credit
    draft = transfers.start_transfer(
        subscription=leaving, transfer_date=coming(moved_from).date, actor=staff
    )
    transfers.choose_target(draft=draft, session=group, actor=staff)
    transfers.choose_dates(
        draft=draft,
        first_date=coming(group).date,
        end_date=coming(moved_from).date,
        actor=staff,
    )
    transfers.set_credit(actor=SYSTEM, draft=draft, apply=True)
    moved = transfers.finish_transfer(
        draft=draft,
        actor=staff,
        finish=transfers.Finish(how=transfers.FINISH_CLOSE_NOW, close_reason="Paid ahead"),
    )
    assert moved.invoice.lines.filter(description=f"Unused from {SENTINEL}").exists()
    migration = relationships.start_migration(
        relationship=old, actor=staff, requested_by="attendee", request_note="Sam rang"
    )
    new = relationships.confirm_migration(migration=migration, actor=staff).new_relationship
    old.refresh_from_db()
    return {
        "pam": pam,
        "sam": sam,
        "old": old,
        "new": new,
        "t1_dates": [coming(maths), coming(group)],
        "t2_dates": [coming(counselling), coming(one_off, weeks=2)],
        "t1_only": t1_only,
        "t2_invoices": [t2_only, mixed, moved.invoice],
        "t2_sub": t2_sub,
        "t2_booking": Booking.objects.get(session_date__session=one_off),
        "draft": TransferDraft.objects.get(pk=draft.pk),
        "mail": DevMail.objects.create(
            to="sam@example.com", from_email="x@example.com", subject="Hi", body_text="Hello"
        ),
    }


def sentinels(world) -> list[bytes]:
    numbers = [invoice.display_number for invoice in world["t2_invoices"][:1]]
    return [s.encode() for s in (SENTINEL, f"{T2_PRICE}", MIXED_TOTAL, *numbers)]


# route name -> the objects of the shared world it takes (T1 may see some, not all)
ID_ROUTES = {
    "clients:detail": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "clients:delete": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "clients:relationship-new": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:client-cards": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:client-account": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:account-credit-add": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:client-statement": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:client-statement-pdf": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:client-statement-email": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "billing:invoice-apply-credit": lambda w: [
        {"invoice_id": i.pk} for i in [w["t1_only"], *w["t2_invoices"]]
    ],
    "billing:invoice-refund": lambda w: [
        {"invoice_id": i.pk} for i in [w["t1_only"], *w["t2_invoices"]]
    ],
    "scheduling:session-date": lambda w: [
        {"session_date_id": d.pk} for d in w["t1_dates"] + w["t2_dates"]
    ],
    "billing:invoice-detail": lambda w: [
        {"invoice_id": i.pk} for i in [w["t1_only"], *w["t2_invoices"]]
    ],
    # the invoice as a PDF: T1 gets T2's as the page, 404 (the PDF's text: test_invoice_pdf)
    "billing:invoice-pdf": lambda w: [
        {"invoice_id": i.pk} for i in [w["t1_only"], *w["t2_invoices"]]
    ],
    **{
        f"relationships:{name}": lambda w: [{"pk": w["old"].pk}, {"pk": w["new"].pk}]
        for name in (
            "detail",
            "booking-panel",
            "migrate",
            "migrate-details",
            "create-session",
            "end",
        )
    },
    "scheduling:transfer-step": lambda w: [
        {"draft_id": w["draft"].public_id, "step": step} for step in ("target", "payment")
    ],
    "dev-mail": lambda w: [{"mail_id": w["mail"].pk}],
    "dev-mail-html": lambda w: [{"mail_id": w["mail"].pk}],
    "team:member": lambda w: [{"user_id": w["t2_sub"].session.practitioner_id}],
    # the setup (staff only): T2's sessions, their services and rooms
    **{
        f"scheduling:setup-{name}": lambda w: [{"session_id": d.session_id} for d in w["t2_dates"]]
        for name in ("session", "session-edit", "session-end")
    },
    "scheduling:setup-service-edit": lambda w: [
        {"service_id": d.session.service_id} for d in w["t2_dates"]
    ],
    "scheduling:setup-room-edit": lambda w: [
        {"room_id": d.session.room_id} for d in w["t2_dates"] if d.session.room_id
    ],
    # enrolment and withdrawal: Sam's and Pam's, on T1's and T2's dates and subscriptions
    **{
        f"scheduling:{name}": lambda w: [
            {"session_date_id": d.pk} for d in w["t1_dates"] + w["t2_dates"]
        ]
        for name in ("add-client", "book-once")
    },
    "scheduling:withdraw": lambda w: [
        {"subscription_id": pk}
        for pk in Subscription.objects.filter(client=w["sam"]).values_list("pk", flat=True)
    ],
    "clients:enrol": lambda w: [{"client_id": w[c].pk} for c in ("sam", "pam")],
    "clients:import-job": lambda w: [{"job_id": import_job().public_id}],
}
# They only take a POST (a GET answers 405: nothing to read)
POST_ONLY = {
    "logout",
    "billing:client-statement-email",
    "billing:run-approve",
    "billing:stripe-webhook",
    "scheduling:transfer-start",
    "scheduling:unenroll",
    "scheduling:undo-unenroll",
    "scheduling:attendance-mark",
    "scheduling:attendance-all-present",
    "scheduling:transfer-discount",
    "scheduling:transfer-discount-remove",
    "scheduling:transfer-credit",
    "scheduling:transfer-finish",
    "billing:invoice-issue",
    "billing:invoice-record-payment",
    "billing:invoice-charge-card",
    "billing:invoice-void",
    "billing:invoice-close",
    "billing:invoice-send",
    "billing:card-request-create",
    "billing:invoice-apply-credit",
    "billing:invoice-refund",
    "billing:account-credit-add",
    "billing:card-request-resend",
    "billing:client-autopay",
    "relationships:rebook",
    "two-factor-off",
    "team:invite",
    "clients:import-confirm",
    "team:role",
    "team:deactivate",
    "team:reactivate",
    "team:resend",
    "clients:archive",
    "clients:restore",
    "scheduling:date-cancel",
    "scheduling:date-reopen",
    "scheduling:closure-confirm",
    "scheduling:closure-undo",
    "scheduling:setup-service-active",
    "scheduling:setup-room-active",
}
# A secret token, not an object: the client's card link, which a practitioner never opens
TOKEN_ROUTES = {
    "billing:card-link",
    "billing:pay-link",
    "billing:payment-confirm",
    "accept-invitation",
    "password_reset_confirm",
}
# More of the pages without an id: their filters and views
QUERIES = {
    "scheduling:schedule": lambda w: (
        [
            {"date": f"{d.date:%Y-%m-%d}", "view": view}
            for d in w["t2_dates"]
            for view in ("day", "week", "month")
        ]
        + [
            {"date": f"{d.date:%Y-%m-%d}", "view": "day", "across": across}
            for d in w["t2_dates"]
            for across in ("room", "practitioner")
        ]
    ),
    # the quick search: T2's client by name, T2's invoices by number (not as
    # "INV-...": the page repeats what was asked, and that is a sentinel)
    "search": lambda w: [
        {"q": "Sam"},
        {"q": "Pam"},
        *({"q": q} for i in w["t2_invoices"] for q in (str(i.number or 0), f"#{i.number}")),
    ],
    "clients:list": lambda w: [{"q": "Sam"}, {"q": "Pam"}, {"sort": "activity"}],
    "clients:pick": lambda w: [{"organiser_q": "Sam"}, {"organiser_q": "Pam"}],
    "scheduling:add-client": lambda w: [{"q": "Sam"}, {"client": w["sam"].pk}],
    "scheduling:book-once": lambda w: [{"q": "Sam"}, {"client": w["sam"].pk}],
    "relationships:list": lambda w: [{"q": "Sam"}, {"status": "ended"}],
    "billing:invoice-list": lambda w: [
        {"payer": "Pam"},
        {"status": "open"},
        {"status": "paid"},
        {"overdue": "on"},
    ],
}


def t1_requests(world) -> list[tuple[str, dict, dict]]:
    """(url, query, headers) of every page and fragment T1 can ask for."""
    asked = []
    for name, converters in app_routes():
        if name in POST_ONLY or name in TOKEN_ROUTES:
            continue
        if converters:
            assert name in ID_ROUTES, f"{name}: say which objects of the shared world it takes"
            urls = [reverse(name, kwargs=kwargs) for kwargs in ID_ROUTES[name](world)]
        else:
            urls = [reverse(name)]
        queries = [{}, *QUERIES.get(name, lambda w: [])(world)]
        asked += [
            (url, query, headers) for url in urls for query in queries for headers in ({}, HX)
        ]
    # the fragments that answer a part of a page
    profile = reverse("clients:detail", args=[world["sam"].pk])
    asked += [(profile, {"part": "contact"}, HX), (profile, {"edit": "contact"}, HX)]
    for relationship in (world["old"], world["new"]):
        # the rebooking preview, asked for T2's sessions too by a forged query
        asked.append(
            (
                reverse("relationships:detail", args=[relationship.pk]),
                {
                    "chosen": "1",
                    "subscription": [world["t2_sub"].pk],
                    "booking": [world["t2_booking"].pk],
                },
                {**HX, "HX-Target": "rebook-preview"},
            )
        )
    return asked


def test_every_route_is_walked(shared):
    names = {name for name, _ in app_routes()}
    assert set(ID_ROUTES) | POST_ONLY | TOKEN_ROUTES <= names, "a listed route no longer exists"
    assert len(t1_requests(shared)) > 100


def test_nothing_of_another_practitioners_sessions_reaches_t1(shared, therapist_client):
    walked = 0
    for url, query, headers in t1_requests(shared):
        response = therapist_client.get(url, query, headers=headers)
        assert response.status_code in (200, 302, 403, 404), (url, query, headers)
        for sentinel in sentinels(shared):
            assert sentinel not in response.content, (sentinel, url, query, headers)
        walked += response.status_code == 200
    assert walked > 60  # most of it is T1's to see


def test_t1_still_sees_their_own_sessions_and_invoice(shared, therapist_client):
    for url in (
        reverse("clients:detail", args=[shared["sam"].pk]),
        reverse("relationships:detail", args=[shared["old"].pk]),
        reverse("relationships:detail", args=[shared["new"].pk]),
    ):
        assert b"Maths" in therapist_client.get(url).content, url
    invoices = therapist_client.get(reverse("billing:invoice-list")).content
    assert shared["t1_only"].display_number.encode() in invoices
    detail = therapist_client.get(reverse("billing:invoice-detail", args=[shared["t1_only"].pk]))
    assert detail.status_code == 200 and b"Maths: 1 session" in detail.content


def test_the_sentinels_are_there_for_staff_and_for_t2(shared, staff_client, other_client):
    sam = reverse("clients:detail", args=[shared["sam"].pk])
    pam = reverse("clients:detail", args=[shared["pam"].pk])
    old = reverse("relationships:detail", args=[shared["old"].pk])
    new = reverse("relationships:detail", args=[shared["new"].pk])
    t2_only, mixed, moved = (
        reverse("billing:invoice-detail", args=[i.pk]) for i in shared["t2_invoices"]
    )
    for url, sentinel in (
        (sam, SENTINEL),  # subscriptions, coming sessions, history
        (pam, f"{T2_PRICE}"),  # invoices and their history
        (old, SENTINEL),
        (new, SENTINEL),  # the rebooking list
        (t2_only, f"{T2_PRICE}"),
        (mixed, MIXED_TOTAL),
        (moved, f"Unused from {SENTINEL}"),
        (reverse("billing:invoice-list"), shared["t2_invoices"][0].display_number),
    ):
        assert sentinel.encode() in staff_client.get(url).content, url
    # the quick search finds T2's invoice by its number for staff (T1's walk asks the same)
    invoice = shared["t2_invoices"][0]
    found = staff_client.get(
        reverse("search"), {"q": f"#{invoice.number}"}, headers={"HX-Request": "true"}
    )
    assert invoice.display_number.encode() in found.content
    assert SENTINEL.encode() in other_client.get(old).content
    assert SENTINEL.encode() in other_client.get(sam).content


def test_t2_sees_nothing_of_t1s_sessions_either(shared, other_client):
    for url in (
        reverse("clients:detail", args=[shared["sam"].pk]),
        reverse("relationships:detail", args=[shared["old"].pk]),
    ):
        assert b"Maths" not in other_client.get(url).content, url


# --- the rules behind the pages ---------------------------------------------------------------
def test_each_history_row_says_whose_sessions_it_is_about(shared, therapist, other_therapist):
    events = ClientEvent.objects.filter(client__in=[shared["sam"], shared["pam"]])
    about_t2 = [e for e in events if SENTINEL in e.summary or f"{T2_PRICE}" in e.summary]
    assert len(about_t2) >= 5  # enrolled, booked, unenrolled, transferred, invoices
    assert all(e.practitioner == other_therapist or e.staff_only for e in about_t2)
    for user in (therapist, other_therapist):
        readable = ClientEvent.objects.visible_to(user).filter(pk__in=[e.pk for e in events])
        assert not readable.filter(staff_only=True).exists()
    for event in ClientEvent.objects.visible_to(therapist).filter(pk__in=[e.pk for e in events]):
        assert SENTINEL not in event.summary and f"{T2_PRICE}" not in event.summary
    mixed = shared["t2_invoices"][1]
    issued_mixed = events.get(summary__startswith=f"Invoice {mixed.display_number} issued")
    assert issued_mixed.staff_only and issued_mixed.practitioner is None
    # about no one's sessions: everyone who sees the client reads it
    migrated = events.get(client=shared["sam"], kind=ClientEvent.Kind.MIGRATED)
    assert migrated in ClientEvent.objects.visible_to(therapist)
    assert migrated in ClientEvent.objects.visible_to(other_therapist)


def test_an_invoice_about_another_practitioners_sessions_is_staffs(
    shared, therapist, other_therapist, staff
):
    t2_only, mixed, moved = shared["t2_invoices"]
    mine = set(Invoice.objects.visible_to(therapist))
    assert mine == {shared["t1_only"]}
    theirs = set(Invoice.objects.visible_to(other_therapist))
    assert t2_only in theirs and shared["t1_only"] not in theirs
    # billing both, or moving Sam out of T2's session into T1's: staff's alone
    assert mixed not in theirs and moved not in theirs
    assert {mixed, moved} <= set(Invoice.objects.visible_to(staff))


def test_a_practitioner_lists_and_rebooks_only_their_own_sessions(shared, therapist, staff):
    new = shared["new"]
    coming = selectors.coming_under_old(new, therapist)
    assert coming.bookings == []
    assert {s.session.service.name for s in coming.subscriptions} == {"Maths", "Maths group"}
    everything = selectors.coming_under_old(new, staff)
    assert shared["t2_sub"] in everything.subscriptions
    assert everything.bookings == [shared["t2_booking"]]
    with pytest.raises(BusinessRuleError, match="nothing was changed"):
        relationships.rebook_coming_sessions(
            relationship=new,
            actor=therapist,
            booking_ids=[shared["t2_booking"].pk],
            subscription_ids=[shared["t2_sub"].pk],
        )
    assert Booking.objects.get(pk=shared["t2_booking"].pk).relationship == shared["old"]
    result = relationships.rebook_coming_sessions(
        relationship=new,
        actor=therapist,
        booking_ids=[],
        subscription_ids=[s.pk for s in coming.subscriptions],
    )
    assert result.moved == 2
    assert selectors.coming_under_old(new, staff).count == 2  # T2's, for T2 or staff
    rebooked = ClientEvent.objects.get(summary__contains="rebooked under the first-party")
    assert rebooked.practitioner == therapist


FILL_MIGRATION = "0005_fill_client_event_audience"


def historical_apps():
    """The models as that migration knew them (Transfer was still scheduling's)."""
    return MigrationLoader(connection).project_state(("clients", FILL_MIGRATION)).apps


def test_the_data_migration_works_out_what_the_services_now_record(shared):
    """Existing rows had no audience: the migration derives, from what they name,
    the audience the services now give each new row."""
    fill = importlib.import_module(f"clients.migrations.{FILL_MIGRATION}").fill
    recorded = dict(ClientEvent.objects.values_list("pk", "practitioner_id"))
    staff_only = set(ClientEvent.objects.filter(staff_only=True).values_list("pk", flat=True))
    assert len(set(recorded.values())) == 3 and staff_only  # T1's, T2's, nobody's; and staff's
    ClientEvent.objects.update(practitioner=None, staff_only=False)
    fill(historical_apps(), None)
    assert dict(ClientEvent.objects.values_list("pk", "practitioner_id")) == recorded
    assert set(ClientEvent.objects.filter(staff_only=True).values_list("pk", flat=True)) == (
        staff_only
    )


def test_a_row_the_migration_cannot_place_is_kept_for_staff(therapist, other_therapist):
    fill = importlib.import_module(f"clients.migrations.{FILL_MIGRATION}").fill
    sam = ClientFactory()
    relationship = RelationshipFactory(payer=sam)
    for practitioner in (therapist, other_therapist):
        SubscriptionFactory(relationship=relationship, session__practitioner=practitioner)
    only_one = SubscriptionFactory(session__practitioner=therapist).client
    rows = {
        "rebooked": ClientEvent.objects.create(
            client=sam, kind="booked", summary="2 coming sessions rebooked under the first-party"
        ),
        "unknown invoice": ClientEvent.objects.create(
            client=sam, kind="payment", summary="Payment of £10.00 (cash) on INV-999999"
        ),
        "card link email": ClientEvent.objects.create(
            client=sam, kind="email_sent", summary="Emailed the link to add a card to s@x.com"
        ),
        "one practitioner": ClientEvent.objects.create(
            client=only_one, kind="booked", summary="3 coming sessions rebooked under the first"
        ),
    }
    fill(historical_apps(), None)
    for row in rows.values():
        row.refresh_from_db()
    assert rows["rebooked"].staff_only and rows["unknown invoice"].staff_only
    assert not rows["card link email"].staff_only and rows["card link email"].practitioner is None
    assert rows["one practitioner"].practitioner == therapist
