"""How full a date is reads as people say it, in one wording wherever fill is
shown (issue 9, minor): never "1 of 1 places" or "0 of 1 places"."""

import pytest
from django.urls import reverse

from tests.factories import SessionFactory, SubscriptionFactory, coming_date

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("capacity", "taken", "said"),
    [
        (1, 1, "Full"),
        (1, 0, "1 place free"),
        (8, 5, "3 of 8 places free"),
        (8, 7, "1 of 8 places free"),
        (8, 8, "Full"),
        (1, 2, "Over capacity: 2 for 1 place"),
    ],
)
def test_the_wording(capacity, taken, said):
    from scheduling.selectors import places_text

    assert places_text(capacity, taken) == said


def pages(client, session_date) -> tuple[str, str]:
    roster = client.get(reverse("scheduling:session-date", args=[session_date.pk]))
    week = client.get(reverse("scheduling:schedule"), {"date": f"{session_date.date:%Y-%m-%d}"})
    return roster.content.decode(), week.content.decode()


def test_a_private_slot_taken_reads_full_and_free_reads_one_place(staff_client, therapist):
    session = SessionFactory(practitioner=therapist, capacity=1)
    session_date = coming_date(session)
    roster, week = pages(staff_client, session_date)
    for page in (roster, week):
        assert "1 place free" in page and "0 of 1" not in page and "0/1" not in page
    SubscriptionFactory(session=session)
    roster, week = pages(staff_client, session_date)
    assert "Roster" in roster and "Full" in roster and "1 of 1" not in roster
    assert "<strong>Full</strong>" in week and "1/1" not in week


def test_a_group_reads_how_many_places_are_free(staff_client, therapist):
    session = SessionFactory(practitioner=therapist, capacity=8)
    session_date = coming_date(session)
    for _ in range(5):
        SubscriptionFactory(session=session)
    for page in pages(staff_client, session_date):
        assert "3 of 8 places free" in page
