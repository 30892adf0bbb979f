"""docs/quality.md Security 1 and 2, generated from the URL resolver: for every route
that takes an object id, practitioner T1 asking for C2's object (C2 belongs to
practitioner T2) gets 404 by GET and by POST, and nothing changes. A route with
an id that is not listed here fails the test: list it, with how to find C2's object."""

import uuid

import pytest
from django.urls import reverse

from billing.models import Invoice, Payment, PaymentCardRequest
from billing.services import request_payment_card
from clients.models import Client, ClientEvent
from devkit.models import DevMail
from frontdesk.models import ImportJob, TransferDraft, Withdrawal
from opus.lib.actors import SYSTEM
from opus.models import Invitation, User
from relationships.models import Relationship, RelationshipMigration
from scheduling.models import (
    Attendance,
    Booking,
    Closure,
    DateAbsence,
    Room,
    Service,
    Session,
    SessionDate,
    SetupChange,
    Subscription,
)
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    SubscriptionFactory,
    UserFactory,
    coming_date,
)
from tests.support.access import app_routes
from tests.support.billing import open_invoice
from tests.support.imports import import_job

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
POST_ONLY = "post-only"  # GET answers 405 (and still changes nothing)
GET_ONLY = "get-only"  # POST answers 405: the method is refused before any lookup

# route name -> (kwargs of C2's object, which methods the route serves)
MATRIX = {
    "clients:detail": (lambda w: {"client_id": w["client"].pk}, "get-post"),
    "clients:archive": (lambda w: {"client_id": w["client"].pk}, POST_ONLY),
    "clients:restore": (lambda w: {"client_id": w["client"].pk}, POST_ONLY),
    "clients:delete": (lambda w: {"client_id": w["client"].pk}, "get-post"),
    "clients:relationship-new": (lambda w: {"client_id": w["client"].pk}, "get-post"),
    "scheduling:session-date": (lambda w: {"session_date_id": w["date"].pk}, "get"),
    "scheduling:unenroll": (
        lambda w: {"session_date_id": w["date"].pk, "subscription_id": w["subscription"].pk},
        POST_ONLY,
    ),
    "scheduling:undo-unenroll": (
        lambda w: {"session_date_id": w["absent_on"].pk, "subscription_id": w["subscription"].pk},
        POST_ONLY,
    ),
    # attendance: C2 on C2's date
    "scheduling:attendance-mark": (
        lambda w: {"session_date_id": w["date"].pk, "client_id": w["client"].pk},
        POST_ONLY,
    ),
    "scheduling:attendance-all-present": (lambda w: {"session_date_id": w["date"].pk}, POST_ONLY),
    # closures (staff only): C2's date, and a closure of C2's practitioner
    "scheduling:date-cancel": (lambda w: {"session_date_id": w["date"].pk}, POST_ONLY),
    "scheduling:date-reopen": (lambda w: {"session_date_id": w["cancelled"].pk}, POST_ONLY),
    "scheduling:closure-undo": (lambda w: {"closure_id": w["closure"].pk}, POST_ONLY),
    # enrolment and withdrawal: C2's session date, client and subscription
    "scheduling:add-client": (lambda w: {"session_date_id": w["date"].pk}, "get-post"),
    "scheduling:book-once": (lambda w: {"session_date_id": w["date"].pk}, "get-post"),
    "scheduling:withdraw": (lambda w: {"subscription_id": w["subscription"].pk}, "get-post"),
    "clients:enrol": (lambda w: {"client_id": w["client"].pk}, "get-post"),
    # billing: C2's invoice, cards and card request
    "billing:invoice-detail": (lambda w: {"invoice_id": w["invoice"].pk}, GET_ONLY),
    "billing:invoice-pdf": (lambda w: {"invoice_id": w["invoice"].pk}, GET_ONLY),
    "billing:invoice-issue": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-record-payment": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-charge-card": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-send": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-void": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-close": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-apply-credit": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:invoice-refund": (lambda w: {"invoice_id": w["invoice"].pk}, POST_ONLY),
    "billing:client-cards": (lambda w: {"client_id": w["client"].pk}, GET_ONLY),
    "billing:client-account": (lambda w: {"client_id": w["client"].pk}, GET_ONLY),
    "billing:account-credit-add": (lambda w: {"client_id": w["client"].pk}, POST_ONLY),
    "billing:client-statement": (lambda w: {"client_id": w["client"].pk}, GET_ONLY),
    "billing:client-statement-pdf": (lambda w: {"client_id": w["client"].pk}, GET_ONLY),
    "billing:client-statement-email": (lambda w: {"client_id": w["client"].pk}, POST_ONLY),
    "billing:card-request-create": (lambda w: {"client_id": w["client"].pk}, POST_ONLY),
    "billing:client-autopay": (lambda w: {"client_id": w["client"].pk}, POST_ONLY),
    "billing:card-request-resend": (lambda w: {"request_id": w["card_request"].pk}, POST_ONLY),
    # relationships: C2's relationship, its migration and its booking
    "relationships:detail": (lambda w: {"pk": w["relationship"].pk}, GET_ONLY),
    "relationships:booking-panel": (lambda w: {"pk": w["relationship"].pk}, GET_ONLY),
    "relationships:migrate": (lambda w: {"pk": w["relationship"].pk}, "get-post"),
    "relationships:migrate-details": (lambda w: {"pk": w["relationship"].pk}, "get-post"),
    "relationships:create-session": (lambda w: {"pk": w["relationship"].pk}, "get-post"),
    "relationships:rebook": (lambda w: {"pk": w["relationship"].pk}, POST_ONLY),
    "relationships:end": (lambda w: {"pk": w["relationship"].pk}, "get-post"),
    # the transfer wizard (staff only): a draft about C2
    "scheduling:transfer-step": (
        lambda w: {"draft_id": w["draft"].public_id, "step": "target"},
        "get-post",
    ),
    "scheduling:transfer-discount": (lambda w: {"draft_id": w["draft"].public_id}, POST_ONLY),
    "scheduling:transfer-discount-remove": (
        lambda w: {"draft_id": w["draft"].public_id, "index": 0},
        POST_ONLY,
    ),
    "scheduling:transfer-credit": (lambda w: {"draft_id": w["draft"].public_id}, POST_ONLY),
    "scheduling:transfer-finish": (lambda w: {"draft_id": w["draft"].public_id}, POST_ONLY),
    # the practice's setup (staff only): a practitioner gets 404 for any id
    "scheduling:setup-session": (lambda w: {"session_id": w["session"].pk}, "get"),
    "scheduling:setup-session-edit": (lambda w: {"session_id": w["session"].pk}, "get-post"),
    "scheduling:setup-session-end": (lambda w: {"session_id": w["session"].pk}, "get-post"),
    "scheduling:setup-service-edit": (
        lambda w: {"service_id": w["session"].service_id},
        "get-post",
    ),
    "scheduling:setup-service-active": (
        lambda w: {"service_id": w["session"].service_id},
        POST_ONLY,
    ),
    "scheduling:setup-room-edit": (lambda w: {"room_id": w["session"].room_id}, "get-post"),
    "scheduling:setup-room-active": (lambda w: {"room_id": w["session"].room_id}, POST_ONLY),
    # staff-only development pages: a practitioner gets 404 for any id
    "dev-mail": (lambda w: {"mail_id": w["mail"].pk}, "get"),
    "dev-mail-html": (lambda w: {"mail_id": w["mail"].pk}, "get"),
    # the team (staff only): T2's own person; T1 gets 404, T2 403
    "team:member": (lambda w: {"user_id": w["practitioner"].pk}, GET_ONLY),
    "team:role": (lambda w: {"user_id": w["practitioner"].pk}, POST_ONLY),
    "team:deactivate": (lambda w: {"user_id": w["practitioner"].pk}, POST_ONLY),
    "team:reactivate": (lambda w: {"user_id": w["practitioner"].pk}, POST_ONLY),
    "team:resend": (lambda w: {"user_id": w["practitioner"].pk}, POST_ONLY),
    # imports (staff only): no practitioner sees any job, its owner's (T2) neither
    "clients:import-job": (lambda w: {"job_id": w["import_job"].public_id}, GET_ONLY),
    "clients:import-confirm": (lambda w: {"job_id": w["import_job"].public_id}, POST_ONLY),
}

# routes whose object id travels in the posted form (GET answers 405)
FORM_ROUTES = {
    "scheduling:transfer-start": lambda w: {
        "subscription": w["subscription"].pk,
        "date": f"{w['date'].date:%Y-%m-%d}",
    },
}


@pytest.fixture
def c2(c2_world):
    session = c2_world["session"]
    world = dict(c2_world)
    world["date"] = coming_date(session)
    world["absent_on"] = coming_date(session, weeks=2)
    DateAbsence.objects.create(
        subscription=c2_world["subscription"], session_date=world["absent_on"]
    )
    world["cancelled"] = coming_date(session, weeks=3)
    world["closure"] = Closure.objects.create(
        scope=Closure.Scope.PRACTITIONER,
        practitioner=session.practitioner,
        first_date=world["cancelled"].date,
        last_date=world["cancelled"].date,
        reason="Away",
        request_key=uuid.uuid4(),
    )
    SessionDate.objects.filter(pk=world["cancelled"].pk).update(
        cancelled=True, cancel_reason="Away", closure=world["closure"]
    )
    world["invoice"] = open_invoice(relationship=c2_world["relationship"])
    world["card_request"] = request_payment_card(
        client=c2_world["client"], actor=SYSTEM, reason="To pay for lessons"
    )
    world["draft"] = TransferDraft.objects.create(
        subscription=c2_world["subscription"],
        transfer_date=world["date"].date,
        end_date=world["date"].date,
        created_by=UserFactory(role="staff"),
    )
    world["practitioner"] = c2_world["session"].practitioner
    world["import_job"] = import_job()
    world["mail"] = DevMail.objects.create(
        to="zebedee@example.com", from_email="x@example.com", subject="Hi", body_text="Hello"
    )
    return world


def snapshot(world) -> dict:
    """Everything a request about C2 could change."""
    return {
        "client": Client.objects.filter(pk=world["client"].pk).values().get(),
        "subscription": Subscription.objects.filter(pk=world["subscription"].pk).values().get(),
        "absences": sorted(DateAbsence.objects.values_list("pk", "session_date_id")),
        "events": ClientEvent.objects.filter(client=world["client"]).count(),
        "invoice": Invoice.objects.filter(pk=world["invoice"].pk).values().get(),
        "payments": Payment.objects.count(),
        "card_requests": list(PaymentCardRequest.objects.values().order_by("pk")),
        "relationships": list(Relationship.objects.values().order_by("pk")),
        "migrations": RelationshipMigration.objects.count(),
        "bookings": Booking.objects.count(),
        "draft": TransferDraft.objects.filter(pk=world["draft"].pk).values().get(),
        "closures": list(Closure.objects.values().order_by("pk")),
        "dates": list(SessionDate.objects.values().order_by("pk")),
        "subscriptions": Subscription.objects.count(),
        "withdrawals": Withdrawal.objects.count(),
        "attendances": list(Attendance.objects.values().order_by("pk")),
        "users": list(User.objects.values("pk", "role", "is_active").order_by("pk")),
        "invitations": list(Invitation.objects.values().order_by("pk")),
        "import_jobs": list(ImportJob.objects.values("pk", "status").order_by("pk")),
        "sessions": list(Session.objects.values("pk", "practitioner_id").order_by("pk")),
        "setup": [
            list(model.objects.values().order_by("pk"))
            for model in (Service, Room, Session, SessionDate, SetupChange)
        ],
    }


# T2 sees these objects but may not use the route: 403 rather than 200
STAFF_ONLY = {
    "scheduling:transfer-step",
    "clients:delete",
    "clients:relationship-new",
    "relationships:end",
    "team:member",
    "billing:client-account",  # the account's entries name any practitioner's sessions
    "billing:client-statement",  # a statement lists every practitioner's invoices
    "billing:client-statement-pdf",
}

# staff's alone: no practitioner sees them, T2 neither (404), staff 200
NO_PRACTITIONER_SEES = {"clients:import-job"}

# reached by the owner, who is sent on to an earlier step (no migration started)
OWNER_REDIRECTED = {"relationships:migrate-details"}

# The client's card link takes a secret token, not an object id: whoever holds the
# token is its audience (tests/billing/test_card_link.py covers it).
TOKEN_ROUTES = {
    "billing:card-link",
    "billing:pay-link",
    "billing:payment-confirm",
    "accept-invitation",
    "password_reset_confirm",
}


def test_every_route_with_an_id_is_in_the_matrix():
    with_ids = {name for name, converters in app_routes() if converters} - TOKEN_ROUTES
    missing = with_ids - set(MATRIX)
    assert not missing, f"routes with an id and no entry in the object matrix: {missing}"
    assert set(MATRIX) <= with_ids, "the matrix lists a route that no longer exists"


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_another_practitioners_object_is_404_by_get_and_post(name, c2, therapist_client):
    kwargs_of, methods = MATRIX[name]
    url = reverse(name, kwargs=kwargs_of(c2))
    before = snapshot(c2)
    for headers in ({}, HX):
        got = therapist_client.get(url, headers=headers)
        assert got.status_code == (405 if methods == POST_ONLY else 404), (name, headers)
        posted = therapist_client.post(
            url, {"first_name": "Pwned", "last_name": "X"}, headers=headers
        )
        assert posted.status_code == (405 if methods == GET_ONLY else 404), (name, headers)
        assert b"Sentinelsson" not in got.content + posted.content
    assert snapshot(c2) == before


@pytest.mark.parametrize("name", sorted(FORM_ROUTES))
def test_another_practitioners_object_in_the_form_is_404(name, c2, therapist_client):
    url = reverse(name)
    params = FORM_ROUTES[name](c2)
    before = snapshot(c2)
    for headers in ({}, HX):
        assert therapist_client.get(url, params, headers=headers).status_code == 405
        assert therapist_client.post(url, params, headers=headers).status_code == 404
    assert snapshot(c2) == before


def test_the_owner_of_the_object_is_let_in(c2, other_client, staff_client):
    """The matrix is not vacuous: T2 (and staff) reach the same objects."""
    for name, (kwargs_of, methods) in MATRIX.items():
        if methods == POST_ONLY or name.startswith("dev-mail"):
            continue
        url = reverse(name, kwargs=kwargs_of(c2))
        if (
            name.startswith("scheduling:setup-") or name in NO_PRACTITIONER_SEES
        ):  # staff only, whoever leads the session
            assert other_client.get(url).status_code == 404, name
            assert staff_client.get(url).status_code == 200, name
            continue
        expected = 302 if name in OWNER_REDIRECTED else 200
        assert other_client.get(url).status_code == (403 if name in STAFF_ONLY else expected), name
        assert staff_client.get(url).status_code == expected, name
    assert staff_client.get(reverse("dev-mail", args=[c2["mail"].pk])).status_code == 200


# --- docs/quality.md Security 2: no leakage in collections ----------------------------------


@pytest.fixture
def t1_world(therapist):
    """T1's own session, date and client, next to C2's."""
    mine = SubscriptionFactory(
        session__practitioner=therapist,
        relationship=RelationshipFactory(payer=ClientFactory(last_name="Mine")),
    )
    return {"subscription": mine, "date": coming_date(mine.session)}


def test_the_sentinel_never_appears_in_t1s_pages_or_fragments(
    c2, t1_world, therapist_client, other_client
):
    day = f"{c2['date'].date:%Y-%m-%d}"
    schedule = reverse("scheduling:schedule")
    clients = reverse("clients:list")
    own_date = reverse("scheduling:session-date", args=[t1_world["date"].pk])
    own_client = reverse("clients:detail", args=[t1_world["subscription"].client_id])
    requests = [
        (schedule, {"date": day}),
        (schedule, {"date": day, "view": "day"}),
        (schedule, {"date": day, "view": "month"}),
        (schedule, {"date": day, "service": c2["session"].service_id}),
        (schedule, {"date": day, "room": c2["session"].room_id}),
        (clients, {}),
        (clients, {"sort": "activity"}),
        (clients, {"q": "Sentinel"}),  # the typed text is echoed: search by a part of it
        (clients, {"q": "sson"}),
        (clients, {"q": "Zebedee"}),
        (clients, {"q": c2["client"].email}),
        (clients, {"q": "07700"}),
        (own_date, {}),
        (own_client, {}),
        (reverse("relationships:list"), {}),
        (reverse("billing:invoice-list"), {}),
    ]
    for url, params in requests:
        for headers in ({}, HX):
            response = therapist_client.get(url, params, headers=headers)
            assert response.status_code == 200, (url, params)
            assert b"Sentinelsson" not in response.content, (url, params, headers)
    # and the sentinel is really there for its own practitioner
    assert b"Sentinelsson" in other_client.get(clients, {"q": "Zebedee"}).content
    c2_date_url = reverse("scheduling:session-date", args=[c2["date"].pk])
    assert b"Sentinelsson" in other_client.get(c2_date_url, headers=HX).content
