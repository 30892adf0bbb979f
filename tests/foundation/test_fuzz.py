"""issue 9 item 9g: no input a browser can send answers 5xx.

Generated from the URL resolver: every route (the admin aside: Django's own),
as each role (anonymous, staff, practitioner), gets

- GET with every known query parameter, and POST with every known form field,
  all carrying the same hostile value, for each value of a fixed corpus;
- each form its page renders posted (or sent, for a GET form) as the browser
  would, with one field at a time replaced by a hostile value, so that the
  value gets past the other fields' checks and reaches the service;
- hostile values in the path where a converter lets them through.

"Known" names are read from the form classes, from the views' own reads of
``request.GET``/``request.POST``, and from the forms and links of each rendered
page. The corpus is fixed (no randomness): NUL bytes, 10,000-character strings,
unicode (emoji, right-to-left, combining marks), negative and huge numbers, and
dates at the ends of the calendar. A route missing from FUZZ_ROUTES fails the
test, as in the object matrix.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django import forms
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.test import Client as Browser
from django.test import override_settings
from django.urls import get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing import services as billing
from billing.paylinks import ensure_pay_link
from billing.services import request_payment_card
from billing.tokens import pay_token_for, token_for
from devkit.models import DevMail
from frontdesk import relationship_flows as relationship_services
from frontdesk import transfers
from opus import team
from opus.lib.actors import SYSTEM
from opus.models import User
from scheduling import closures
from scheduling.models import DateAbsence
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    UserFactory,
    next_weekday,
)
from tests.support.access import PUBLIC_ROUTES, app_routes
from tests.support.billing import open_invoice
from tests.support.imports import import_job

ROOT = Path(__file__).resolve().parents[2]

# --- the corpus ---------------------------------------------------------------------------
CORPUS = {
    "nul": "\x00",
    "nul inside": "Ava\x00Adams",
    "10k": "x" * 10_000,
    "emoji": "😀👩‍👩‍👧🏳️‍🌈 Zoë",
    "rtl": "\u202eevil\u202c مرحبا שלום",
    "combining": "e\u0301\u0302\u0303 Z\u0335\u0336\u0337",
    "-1": "-1",
    "0": "0",
    "1e308": "1e308",
    "huge": "99999999999999999999",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "9999-12-31": "9999-12-31",  # the last date Python knows: one day more overflows
    "0001-01-01": "0001-01-01",
    "bad url": "//[::1/x",  # urlsplit raises on it
}
# where the login page is all there is to reach (anonymous, a page behind the login)
SHALLOW = ["nul", "10k", "huge"]
# one field at a time, on top of a form filled in as the browser would
DEEP = ["nul inside", "10k", "emoji", "-1", "huge", "1e308", "NaN", "9999-12-31"]
# in the path, where a converter lets a value through (int: digits only)
PATH_VALUES = {
    "int": ["0", "99999999999999999999"],
    "other": ["%00", "x" * 2000, "%F0%9F%98%80", "-1"],
}


# --- the names a browser can send ---------------------------------------------------------
def _form_class_fields() -> set[str]:
    """The fields of every form class the views can use: the project's, and
    Django's auth forms (login, password change)."""
    assert get_resolver().url_patterns  # imports every view, and so every form it uses
    apps = (
        "opus.",
        "billing.",
        "clients.",
        "relationships.",
        "scheduling.",
        "frontdesk.",
        "reports.",
    )
    names, todo = set(), [forms.BaseForm]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith(apps) or cls.__module__ == "django.contrib.auth.forms":
            names |= set(getattr(cls, "base_fields", ()))
    return names | {f"{prefix}-reason" for prefix in ("void", "close")}  # prefixed forms


def _names_read_by_views() -> set[str]:
    reads = re.compile(
        r"""request\.(?:GET|POST)(?:\.get|\.getlist)?\(\s*["'](\w+)["']"""
        r"""|["'](\w+)["']\s+in\s+request\.(?:GET|POST)"""
    )
    names = set()
    for app in (
        "opus",
        "billing",
        "clients",
        "relationships",
        "scheduling",
        "frontdesk",
        "reports",
    ):
        for source in (ROOT / app).rglob("*.py"):
            for match in reads.finditer(source.read_text()):
                names.add(match.group(1) or match.group(2))
    return names


KNOWN_NAMES = _form_class_fields() | _names_read_by_views() | {"csrfmiddlewaretoken"}


class PageReader(HTMLParser):
    """The forms of a page (action, method, fields with what a browser would send
    untouched) and the query parameter names of its links."""

    def __init__(self, url: str):
        super().__init__(convert_charrefs=True)
        self.url = url
        self.forms: list[dict] = []
        self.link_names: set[str] = set()
        self.targets: set[str] = set()  # the ids htmx swaps: what a fragment is asked for
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for attr in ("href", "hx-get", "hx-post", "action"):
            if a.get(attr):
                self.link_names |= {k for k, _ in parse_qsl(urlsplit(a[attr]).query, True)}
        if a.get("hx-target", "").startswith("#"):
            self.targets.add(a["hx-target"][1:])
        if tag == "form":
            self._form = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action") or self.url,
                "fields": {},  # name -> value sent untouched (None: nothing sent)
                "submits": [],
            }
            self.forms.append(self._form)
            return
        if self._form is None or not a.get("name"):
            return
        fields, name = self._form["fields"], a["name"]
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("radio", "checkbox"):
                if "checked" in a or fields.get(name) is None:
                    fields[name] = a.get("value", "on") if "checked" in a else None
            elif kind in ("submit", "image"):
                self._submit(name, a.get("value", ""))
            elif kind != "button":
                fields[name] = a.get("value", "")
        elif tag == "button" and (a.get("type") or "submit") == "submit":
            self._submit(name, a.get("value", ""))
        elif tag == "select":
            self._select = name
            fields[name] = None
        elif tag == "option" and self._select:
            if fields.get(self._select) is None or "selected" in a:
                fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            fields[name] = ""

    def _submit(self, name: str, value: str):
        """A named submit button is sent only when pressed: the first is the
        default, the others are ways to send the form too."""
        self._form["fields"].setdefault(name, value)
        self._form["submits"].append((name, value))

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


# --- a practice to walk -------------------------------------------------------------------
# Argon2 costs its time on purpose, on every login and password change posted (and
# on a dummy hash for an unknown username): the hasher changes nothing the fuzz looks for
FAST_HASHER = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


@pytest.fixture(scope="module")
def practice(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction rolled back at its end; each
    test runs in a savepoint on top of it, so every route starts from the same
    state. Everything is the practitioner's, so both roles reach the views."""
    with FAST_HASHER, django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        world = _build_practice()
        try:
            yield world
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _build_practice() -> dict:
    today = timezone.localdate()
    staff = UserFactory(username="fuzz-staff", role=User.Role.STAFF)
    practitioner = UserFactory(username="fuzz-practitioner")
    weekday = (today.weekday() + 2) % 7  # never today: no date is half past
    first = next_weekday(weekday, today - timedelta(weeks=3))
    piano, guitar = (
        SessionFactory(
            service=ServiceFactory(name=name, price=Decimal(30)),
            practitioner=practitioner,
            weekday=day,
            first_date=next_weekday(day, first),
            capacity=3,
        )
        for name, day in (("Piano", weekday), ("Guitar", (weekday + 1) % 7))
    )
    for session in (piano, guitar):
        generate_session_dates(session=session, until=today + timedelta(weeks=8))
    coming = list(piano.dates.filter(date__gt=today).order_by("date")[:2])

    # Oliver pays for Sam, who lacks a phone and an address: a migration in draft
    sam = ClientFactory(first_name="Sam", last_name="Rivera", phone="", address="")
    third_party = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver", last_name="Grant"),
        attendee=sam,
        practitioner=practitioner,
    )
    sam_sub = SubscriptionFactory(relationship=third_party, session=piano, first_date=first)
    relationship_services.start_migration(
        relationship=third_party, actor=practitioner, requested_by="attendee", request_note="x"
    )
    # Ava pays for herself, has a card, and is absent on the second coming date
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    PaymentMethodFactory(client=ava)
    ava_sub = SubscriptionFactory(
        relationship=RelationshipFactory(payer=ava, practitioner=practitioner),
        session=piano,
        first_date=first,
    )
    DateAbsence.objects.create(subscription=ava_sub, session_date=coming[1])
    # Mia was paid for by Pat and migrated: her coming sessions wait to be rebooked
    mia = ClientFactory(first_name="Mia", last_name="Moss")
    PaymentMethodFactory(client=mia)
    old = RelationshipFactory(payer=ClientFactory(first_name="Pat"), attendee=mia)
    SubscriptionFactory(relationship=old, session=guitar, first_date=guitar.first_date)
    migration = relationship_services.start_migration(
        relationship=old, actor=staff, requested_by="organiser", request_note="x"
    )
    migrated = relationship_services.confirm_migration(
        migration=migration, actor=staff
    ).new_relationship

    open_ = open_invoice(relationship=third_party, staff=staff)
    draft_invoice = billing.create_draft(actor=SYSTEM, payer=ava, relationship=ava_sub.relationship)
    billing.add_charge(
        actor=SYSTEM, invoice=draft_invoice, description="Lessons", unit_price=Decimal(30)
    )
    card_request = request_payment_card(client=sam, actor=staff, reason="To pay for lessons")
    transfer = transfers.start_transfer(
        subscription=sam_sub, transfer_date=coming[0].date, actor=staff
    )
    transfers.choose_target(draft=transfer, session=guitar, actor=staff)
    transfers.choose_dates(
        draft=transfer,
        first_date=guitar.dates.filter(date__gt=coming[0].date).earliest("date").date,
        end_date=coming[0].date,
        actor=staff,
    )
    transfers.add_discount(actor=SYSTEM, draft=transfer, amount=Decimal(5), reason="Goodwill")
    mail = DevMail.objects.create(
        to="sam@example.com", from_email="x@example.com", subject="Hi", body_text="Hello"
    )
    # a closure far ahead (no date generated inside it yet), and a guitar date cancelled
    far = today + timedelta(weeks=20)
    closure = closures.close_dates(
        scope="practice",
        first_date=far,
        last_date=far + timedelta(days=6),
        reason="Christmas break",
        request_key=uuid.uuid4(),
        actor=staff,
    ).closure
    cancelled = guitar.dates.filter(date__gt=today).latest("date")
    closures.cancel_session_date(session_date=cancelled, reason="Snow", actor=staff)
    invitation = team.invite_user(
        first_name="Ivy",
        last_name="Vited",
        email="ivy@example.com",
        role="practitioner",
        actor=staff,
    )
    deactivated = UserFactory(username="fuzz-gone", is_active=False)
    return {
        "import_jobs": [
            import_job(created_by=staff),
            import_job(created_by=staff, errors=[{"line": 2, "message": "Bad"}]),
            import_job(created_by=staff, status="done"),
        ],
        "invited": invitation.user,
        "invitation_token": team.invitation_token(invitation),
        "deactivated": deactivated,
        "reset_uid": urlsafe_base64_encode(force_bytes(practitioner.pk)),
        "reset_token": default_token_generator.make_token(practitioner),
        "staff": staff,
        "practitioner": practitioner,
        "clients": [sam, ava],
        "coming": coming[0],
        "absent_on": coming[1],
        "ava_sub": ava_sub,
        "relationships": [third_party, migrated],
        "invoices": [open_, draft_invoice],
        "open_invoice": open_,
        "draft_invoice": draft_invoice,
        "card_request": card_request,
        "token": token_for(card_request),
        "pay_token": pay_token_for(ensure_pay_link(open_)),
        "transfer": transfer,
        "mail": mail,
        "closure": closure,
        "cancelled": cancelled,
    }


def _members(w):
    return [{"user_id": w[key].pk} for key in ("practitioner", "invited", "deactivated")]


def _relationship_routes(w):
    return [{"pk": r.pk} for r in w["relationships"]]


def _transfer(w, **extra):
    return [{"draft_id": w["transfer"].public_id, **extra}]


# route name -> the path arguments of the practice's objects (one URL per dict)
FUZZ_ROUTES = {
    "home": lambda w: [{}],
    "search": lambda w: [{}],
    "login": lambda w: [{}],
    "logout": lambda w: [{}],
    "password_change": lambda w: [{}],
    "password_change_done": lambda w: [{}],
    "login-code": lambda w: [{}],
    "two-factor": lambda w: [{}],
    "two-factor-backup-codes": lambda w: [{}],
    "two-factor-off": lambda w: [{}],
    "healthz": lambda w: [{}],
    "practice-settings": lambda w: [{}],
    "admin-login": lambda w: [{}],
    "dev-mailbox": lambda w: [{}],
    "dev-mail": lambda w: [{"mail_id": w["mail"].pk}],
    "dev-mail-html": lambda w: [{"mail_id": w["mail"].pk}],
    "scheduling:schedule": lambda w: [{}],
    "scheduling:session-date": lambda w: [{"session_date_id": w["coming"].pk}],
    "scheduling:unenroll": lambda w: [
        {"session_date_id": w["coming"].pk, "subscription_id": w["ava_sub"].pk}
    ],
    "scheduling:attendance-mark": lambda w: [
        {"session_date_id": w["coming"].pk, "client_id": w["ava_sub"].client_id}
    ],
    "scheduling:attendance-all-present": lambda w: [{"session_date_id": w["coming"].pk}],
    "scheduling:undo-unenroll": lambda w: [
        {"session_date_id": w["absent_on"].pk, "subscription_id": w["ava_sub"].pk}
    ],
    "scheduling:date-cancel": lambda w: [{"session_date_id": w["coming"].pk}],
    "scheduling:date-reopen": lambda w: [{"session_date_id": w["cancelled"].pk}],
    "scheduling:closures": lambda w: [{}],
    "scheduling:closure-new": lambda w: [{}],
    "scheduling:closure-confirm": lambda w: [{}],
    "scheduling:closure-undo": lambda w: [{"closure_id": w["closure"].pk}],
    "scheduling:transfer-start": lambda w: [{}],
    "scheduling:add-client": lambda w: [{"session_date_id": w["coming"].pk}],
    "scheduling:book-once": lambda w: [{"session_date_id": w["coming"].pk}],
    "scheduling:withdraw": lambda w: [{"subscription_id": w["ava_sub"].pk}],
    "clients:enrol": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "scheduling:transfer-step": lambda w: [
        *_transfer(w, step="target"),
        *_transfer(w, step="dates"),
        *_transfer(w, step="payment"),
    ],
    "scheduling:transfer-discount": _transfer,
    "scheduling:transfer-discount-remove": lambda w: _transfer(w, index=0),
    "scheduling:transfer-credit": _transfer,
    "scheduling:transfer-finish": _transfer,
    "scheduling:setup-sessions": lambda w: [{}],
    "scheduling:setup-session-new": lambda w: [{}],
    "scheduling:setup-session": lambda w: [{"session_id": w["coming"].session_id}],
    "scheduling:setup-session-edit": lambda w: [{"session_id": w["coming"].session_id}],
    "scheduling:setup-session-end": lambda w: [{"session_id": w["coming"].session_id}],
    "scheduling:setup-services": lambda w: [{}],
    "scheduling:setup-service-new": lambda w: [{}],
    "scheduling:setup-service-edit": lambda w: [{"service_id": w["coming"].session.service_id}],
    "scheduling:setup-service-active": lambda w: [{"service_id": w["coming"].session.service_id}],
    "scheduling:setup-rooms": lambda w: [{}],
    "scheduling:setup-room-new": lambda w: [{}],
    "scheduling:setup-room-edit": lambda w: [{"room_id": w["coming"].session.room_id}],
    "scheduling:setup-room-active": lambda w: [{"room_id": w["coming"].session.room_id}],
    "clients:list": lambda w: [{}],
    "clients:export": lambda w: [{}],
    "clients:import": lambda w: [{}],
    "clients:import-example": lambda w: [{}],
    "clients:import-job": lambda w: [{"job_id": j.public_id} for j in w["import_jobs"]],
    "clients:import-confirm": lambda w: [{"job_id": j.public_id} for j in w["import_jobs"]],
    "clients:detail": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "clients:add": lambda w: [{}],
    "clients:duplicates": lambda w: [{}],
    "clients:pick": lambda w: [{}],
    "clients:archive": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "clients:restore": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "clients:delete": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "clients:relationship-new": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "relationships:list": lambda w: [{}],
    "relationships:detail": _relationship_routes,
    "relationships:booking-panel": _relationship_routes,
    "relationships:migrate": _relationship_routes,
    "relationships:migrate-details": _relationship_routes,
    "relationships:create-session": _relationship_routes,
    "relationships:rebook": _relationship_routes,
    "relationships:end": _relationship_routes,
    "billing:invoice-list": lambda w: [{}],
    "billing:run": lambda w: [{}],
    "billing:run-approve": lambda w: [{}],
    "billing:invoice-export": lambda w: [{}],
    "billing:payment-export": lambda w: [{}],
    "reports:index": lambda w: [{}],
    **{
        f"reports:{slug}{suffix}": lambda w: [{}]
        for slug in ("aging", "revenue", "enrolments", "attendance", "card-links")
        for suffix in ("", "-csv")
    },
    "billing:invoice-detail": lambda w: [{"invoice_id": i.pk} for i in w["invoices"]],
    "billing:invoice-pdf": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:invoice-issue": lambda w: [{"invoice_id": w["draft_invoice"].pk}],
    "billing:invoice-record-payment": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:invoice-charge-card": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:invoice-void": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:invoice-close": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:invoice-send": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:client-cards": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "billing:invoice-apply-credit": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:invoice-refund": lambda w: [{"invoice_id": w["open_invoice"].pk}],
    "billing:client-account": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "billing:account-credit-add": lambda w: [{"client_id": w["clients"][0].pk}],
    "billing:client-statement": lambda w: [{"client_id": c.pk} for c in w["clients"]],
    "billing:client-statement-pdf": lambda w: [{"client_id": w["clients"][0].pk}],
    "billing:client-statement-email": lambda w: [{"client_id": w["clients"][0].pk}],
    "billing:card-request-create": lambda w: [{"client_id": w["clients"][0].pk}],
    "billing:client-autopay": lambda w: [{"client_id": w["clients"][0].pk}],
    "billing:card-request-resend": lambda w: [{"request_id": w["card_request"].pk}],
    "billing:card-link": lambda w: [{"token": w["token"]}],
    "billing:pay-link": lambda w: [{"token": w["pay_token"]}],
    "billing:stripe-webhook": lambda w: [{}],
    "billing:payment-confirm": lambda w: [{"token": "x" * 43}],
    # the team (staff only) and the links of invitations and password resets
    "team:list": lambda w: [{}],
    "team:invite": lambda w: [{}],
    "team:member": _members,
    "team:role": _members,
    "team:deactivate": _members,
    "team:reactivate": _members,
    "team:resend": _members,
    "accept-invitation": lambda w: [{"token": w["invitation_token"]}],
    "password_reset": lambda w: [{}],
    "password_reset_done": lambda w: [{}],
    "password_reset_confirm": lambda w: [
        {"uidb64": w["reset_uid"], "token": w["reset_token"]},
        {"uidb64": w["reset_uid"], "token": "set-password"},
    ],
    "password_reset_complete": lambda w: [{}],
}
ROLES = ["anonymous", "staff", "practitioner"]


def test_every_route_is_fuzzed():
    routes = {name for name, _ in app_routes()}
    assert routes == set(FUZZ_ROUTES), (
        f"not fuzzed: {routes - set(FUZZ_ROUTES)}; gone: {set(FUZZ_ROUTES) - routes}"
    )


@pytest.mark.django_db
def test_the_walk_reads_what_a_page_lets_a_browser_send(practice):
    """The fuzz is not vacuous: the forms, their untouched values and the link
    names of a page are read as a browser would send them."""
    browser = _browser("staff", practice)
    url = reverse("scheduling:transfer-step", args=[practice["transfer"].public_id, "payment"])
    reader = PageReader(url)
    reader.feed(browser.get(url).content.decode())
    by_action = {}
    for form in reader.forms:
        by_action.setdefault(form["action"].split("/")[-2], []).append(form["fields"])
    assert {"kind", "value", "reason"} <= set(by_action["discount"][0])
    assert by_action["discount"][0]["kind"] == "amount"  # the checked radio
    assert {f.get("how") for f in by_action["finish"]} == set(transfers.FINISHES)
    assert "wizard" in reader.targets
    assert {"q", "next", "reason", "how", "first_date", "username"} <= KNOWN_NAMES


# --- the walk -----------------------------------------------------------------------------
class Fuzzer:
    def __init__(self, browser: Browser):
        self.browser = browser
        self.failures: list[str] = []
        self.sent = 0

    def send(self, method: str, url: str, data, label: str, headers=None, form=False):
        """One request, in a savepoint of its own: a database error in one request
        is reported, and cannot poison the requests after it. A POST is sent as
        multipart, or urlencoded as a browser sends a form by default (``form``)."""
        self.sent += 1
        try:
            with transaction.atomic():
                if method == "get":
                    response = self.browser.get(url, data, headers=headers)
                elif form:
                    body = data if isinstance(data, str) else urlencode(data)
                    response = self.browser.post(
                        url, body, "application/x-www-form-urlencoded", headers=headers
                    )
                else:
                    response = self.browser.post(url, data, headers=headers)
        except Exception as error:  # an exception the view let through: a 500
            self.failures.append(f"{method.upper()} {url} {label}: {error!r}"[:400])
            return None
        if response.status_code >= 500 and not _healthz_degraded(url, response):
            self.failures.append(f"{method.upper()} {url} {label}: {response.status_code}")
        return response


def _healthz_degraded(url: str, response) -> bool:
    """/healthz answers 503 by design when the broker or database is down."""
    return url == reverse("healthz") and response["Content-Type"] == "application/json"


def _browser(role: str, world: dict) -> Browser:
    browser = Browser(raise_request_exception=True)
    if role != "anonymous":
        browser.force_login(world[role])
    return browser


def _fill(fields: dict, **changes) -> dict:
    """What the browser sends: the untouched fields, with ``changes``."""
    data = {name: value for name, value in fields.items() if value is not None}
    data.update(changes)
    return data


def _fuzz_url(fuzzer: Fuzzer, url: str, *, deep: bool):
    page = fuzzer.send("get", url, {}, "as is")
    reader = PageReader(url)
    if page is not None and page.status_code == 200 and "html" in page.get("Content-Type", ""):
        reader.feed(page.content.decode())
    names = KNOWN_NAMES | reader.link_names
    for form in reader.forms:
        names |= set(form["fields"])
    corpus = CORPUS if deep else {label: CORPUS[label] for label in SHALLOW}
    for method in ("get", "post"):
        for label, value in corpus.items():
            response = fuzzer.send(method, url, dict.fromkeys(names, value), f"every name={label}")
            if response is not None and response.status_code == 405:
                break  # the method is refused before anything reads the values
    # bytes that are no UTF-8 at all, as a hand-typed URL can carry them
    raw = "&".join(f"{name}=%ff%fe%00" for name in sorted(names))
    fuzzer.send("get", f"{url}?{raw}", {}, "every name=not UTF-8")
    fuzzer.send("post", url, raw, "every name=not UTF-8", form=True)
    if not deep:
        return
    for target in sorted(reader.targets):  # the fragments of the page, as htmx asks for them
        headers = {"HX-Request": "true", "HX-Target": target}
        for label in SHALLOW:
            data = dict.fromkeys(names, CORPUS[label])
            fuzzer.send("get", url, data, f"every name={label}, fragment #{target}", headers)
    for form in reader.forms:
        method = "post" if form["method"] == "post" else "get"
        action = form["action"]
        fuzzer.send(method, action, _fill(form["fields"]), "the form as drawn", form=True)
        for name, value in form["submits"][1:]:
            data = _fill(form["fields"], **{name: value})
            fuzzer.send(method, action, data, f"{name}={value}", form=True)
        for name in sorted(form["fields"]):
            if name == "csrfmiddlewaretoken":
                continue
            for label in DEEP:
                data = _fill(form["fields"], **{name: CORPUS[label]})
                fuzzer.send(method, action, data, f"form {action} {name}={label}", form=True)


def _path_variants(name: str, kwargs: dict) -> list[str]:
    """The route's URL with each path argument replaced by hostile values its
    converter lets through (an int converter takes digits only)."""
    urls = []
    for key, value in kwargs.items():
        if isinstance(value, uuid.UUID):
            sentinel, hostile = uuid.UUID(int=7), [str(uuid.UUID(int=0))]
        elif isinstance(value, int):
            sentinel, hostile = 987654321, PATH_VALUES["int"]
        else:
            sentinel, hostile = "sentinel-zz", PATH_VALUES["other"]
        url = reverse(name, kwargs={**kwargs, key: sentinel})
        urls += [url.replace(str(sentinel), value) for value in hostile]
    return urls


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(FUZZ_ROUTES))
def test_no_input_answers_5xx(practice, name, role):
    fuzzer = Fuzzer(_browser(role, practice))
    deep = role != "anonymous" or name in PUBLIC_ROUTES
    for kwargs in FUZZ_ROUTES[name](practice):
        url = reverse(name, kwargs=kwargs)
        _fuzz_url(fuzzer, url, deep=deep)
        for variant in _path_variants(name, kwargs):
            fuzzer.send("get", variant, {}, "hostile path")
            fuzzer.send("post", variant, {}, "hostile path")
    assert fuzzer.sent > len(SHALLOW)
    assert not fuzzer.failures, "\n".join(fuzzer.failures)
