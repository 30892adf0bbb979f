"""The transfer world and the steps of the transfer wizard."""

import re
from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from frontdesk import transfers
from frontdesk.models import TransferDraft
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday_after,
)

PAY_LATER = transfers.Finish(transfers.FINISH_PAY_LATER)


def build_world(therapist) -> dict:
    """Ava, paid for by her mother, in Monday piano; Wednesday piano and a Friday
    guitar group to move to. Dates generated for eight weeks."""
    today = timezone.localdate()
    piano = ServiceFactory(name="Piano, 30 min", price=Decimal("30.00"))
    guitar = ServiceFactory(
        name="Guitar group", price=Decimal("96.00"), billing_basis="monthly", sessions_per_month=4
    )
    start = today - timedelta(weeks=4)
    monday = SessionFactory(
        service=piano,
        practitioner=therapist,
        weekday=0,
        capacity=1,
        first_date=start + timedelta(days=(0 - start.weekday()) % 7),
    )
    wednesday = SessionFactory(
        service=piano,
        practitioner=therapist,
        weekday=2,
        capacity=1,
        first_date=start + timedelta(days=(2 - start.weekday()) % 7),
    )
    friday = SessionFactory(
        service=guitar,
        practitioner=therapist,
        weekday=4,
        capacity=2,
        first_date=start + timedelta(days=(4 - start.weekday()) % 7),
    )
    for session in (monday, wednesday, friday):
        generate_session_dates(session=session, until=today + timedelta(weeks=8))
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Mum"), attendee=ClientFactory(first_name="Ava")
    )
    subscription = SubscriptionFactory(
        relationship=relationship,
        session=monday,
        first_date=monday.first_date,
        price=Decimal("30.00"),
    )
    return {
        "today": today,
        "monday": monday,
        "wednesday": wednesday,
        "friday": friday,
        "subscription": subscription,
        "relationship": relationship,
        "next_monday": next_weekday_after(today, 0),
        "next_wednesday": next_weekday_after(today, 2),
        "next_friday": next_weekday_after(today, 4),
    }


def draft_to(world, staff, target="wednesday", first=None, end=None):
    draft = transfers.start_transfer(
        subscription=world["subscription"], transfer_date=world["next_monday"], actor=staff
    )
    transfers.choose_target(draft=draft, session=world[target], actor=staff)
    transfers.choose_dates(
        draft=draft,
        first_date=first or world[f"next_{target}"],
        end_date=end or world["next_monday"],
        actor=staff,
    )
    return draft


def start(client, world):
    url = reverse("scheduling:transfer-start")
    response = client.post(
        url, {"subscription": world["subscription"].pk, "date": world["next_monday"].isoformat()}
    )
    assert response.status_code == 302
    return response["Location"], TransferDraft.objects.latest("pk")


def step(draft, name):
    return reverse("scheduling:transfer-step", args=[draft.public_id, name])


def transfer_start_forms(body: str) -> set[tuple[str, str]]:
    """(subscription id, date) of every "start a transfer" form on a page."""
    action = reverse("scheduling:transfer-start")
    forms = body.split(f'action="{action}"')[1:]
    return {
        (
            re.search(r'name="subscription" value="(\d+)"', form).group(1),
            re.search(r'name="date" value="([\d-]*)"', form).group(1),
        )
        for form in (f.split("</form>")[0] for f in forms)
    }
