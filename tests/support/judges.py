"""The third-party judges (npm packages), installed once per checkout under
.data/judges/ (npm's own cache in ~/.npm makes a clean clone pay once)."""

import fcntl
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from billing.models import Invoice
from billing.paylinks import ensure_pay_link
from billing.services import request_payment_card
from billing.tokens import pay_token_for, token_for
from clients.models import Client
from opus.models import User
from scheduling.models import Room, Service, Session, SessionDate
from tests.support.transfer import build_world, draft_to

ROOT = Path(__file__).resolve().parents[2]
JUDGES = ROOT / ".data" / "judges"
PACKAGES = {"vnu-jar": "26.9.27", "lighthouse": "12.2.3"}


def node_package(name: str) -> Path:
    """The folder of an npm package, installed at its pinned version if missing."""
    folder = JUDGES / "node_modules" / name
    JUDGES.mkdir(parents=True, exist_ok=True)
    with open(JUDGES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "package.json").exists():
            npm = shutil.which("npm")
            if npm is None:
                pytest.fail(
                    f"npm is not installed: the judges ({', '.join(PACKAGES)}) come from the "
                    "npm registry (apt-get install -y nodejs npm); they must run, not skip"
                )
            wanted = [f"{package}@{version}" for package, version in PACKAGES.items()]
            result = subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--prefix",
                    str(JUDGES),
                    *wanted,
                ],
                check=False,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0:
                pytest.fail(f"npm install {' '.join(wanted)} failed:\n{result.stderr[-3000:]}")
    return folder


# --- the pages the judges audit (the demo practice seeded) ---------------------------------
def staff_pages() -> dict[str, str]:
    """The logged-in pages, by name: one of each kind, ids from the demo practice."""
    client = Client.objects.filter(subscriptions__isnull=False).order_by("pk").first()
    invoice = Invoice.objects.filter(status=Invoice.Status.OPEN).order_by("pk").first()
    session = Session.objects.order_by("pk").first()
    date = SessionDate.objects.filter(session=session).order_by("-date").first()
    member = User.objects.filter(username="maria").get()
    staff = User.objects.get(username="owner")
    draft = draft_to(build_world(member), staff)
    return {
        "Today": "/",
        "calendar week": "/schedule/",
        "calendar day": "/schedule/?view=day",
        "calendar day, rooms": "/schedule/?view=day&across=room",
        "calendar month": "/schedule/?view=month",
        "session date": reverse("scheduling:session-date", args=[date.pk]),
        "clients": "/clients/",
        "client profile": reverse("clients:detail", args=[client.pk]),
        "client account": reverse("billing:client-account", args=[client.pk]),
        "add a client": reverse("clients:add"),
        "relationships": reverse("relationships:list"),
        "transfer payment step": reverse(
            "scheduling:transfer-step", args=[draft.public_id, "payment"]
        ),
        "invoices": reverse("billing:invoice-list"),
        "invoice": reverse("billing:invoice-detail", args=[invoice.pk]),
        "billing run": reverse("billing:run"),
        "setup: sessions": reverse("scheduling:setup-sessions"),
        "setup: new session": reverse("scheduling:setup-session-new"),
        "setup: a session": reverse("scheduling:setup-session", args=[session.pk]),
        "setup: services": reverse("scheduling:setup-services"),
        "setup: a service": reverse(
            "scheduling:setup-service-edit", args=[Service.objects.order_by("pk").first().pk]
        ),
        "setup: rooms": reverse("scheduling:setup-rooms"),
        "setup: a room": reverse(
            "scheduling:setup-room-edit", args=[Room.objects.order_by("pk").first().pk]
        ),
        "closures": reverse("scheduling:closures"),
        "new closure": reverse("scheduling:closure-new"),
        "practice settings": reverse("practice-settings"),
        "team": reverse("team:list"),
        "reports": reverse("reports:index"),
        "report: aging": reverse("reports:aging"),
        "report: revenue": reverse("reports:revenue"),
        "report: enrolments": reverse("reports:enrolments"),
        "report: attendance": reverse("reports:attendance"),
        "report: card links": reverse("reports:card-links"),
    }


def public_pages() -> dict[str, str]:
    payer = Client.objects.filter(invoices__status=Invoice.Status.OPEN).order_by("pk").first()
    card_request = request_payment_card(
        client=payer, actor=User.objects.get(username="owner"), reason="Piano lessons"
    )
    invoice = (
        Invoice.objects.filter(status=Invoice.Status.OPEN, total__gt=Decimal("0"))
        .order_by("pk")
        .first()
    )
    return {
        "login": "/login/",
        "card link": reverse("billing:card-link", args=[token_for(card_request)]),
        "pay an invoice": reverse(
            "billing:pay-link", args=[pay_token_for(ensure_pay_link(invoice))]
        ),
    }
