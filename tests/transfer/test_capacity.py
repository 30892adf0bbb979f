"""A transfer needs a place on every date the new subscription covers, not only
on its first (issue 9, item 3), and the old subscription may run on only a week
past the new one's first date (item 4)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from clients.models import ClientEvent
from frontdesk import transfers
from frontdesk.models import Transfer
from opus.lib.errors import BusinessRuleError
from scheduling import services
from scheduling.models import DateAbsence, SessionDate, Subscription
from scheduling.selectors import roster_for, with_enrollment
from tests.capacity import meet_after_the_checks
from tests.factories import BookingFactory, RelationshipFactory, SubscriptionFactory
from tests.support.threads import run_together
from tests.support.transfer import PAY_LATER, draft_to, start, step

pytestmark = pytest.mark.django_db


def over_capacity() -> list[tuple[date, int]]:
    """Every session date with more clients than places (written without the new
    selector, so that it says the same on main)."""
    return [
        (d.date, d.enrolled)
        for d in with_enrollment(SessionDate.objects.select_related("session"))
        if d.enrolled > d.session.capacity
    ]


def fill(session, day: date):
    """Another client takes the one place of ``session`` on ``day`` alone."""
    return BookingFactory(session_date=session.dates.get(date=day))


def first_wednesday_with_another_in_its_month(world) -> date:
    day = world["next_wednesday"]
    while (day + timedelta(weeks=1)).month != day.month:
        day += timedelta(weeks=1)
    return day


# --- item 3: every date has a place ------------------------------------------------------
def test_a_later_full_date_is_named_and_nothing_is_overbooked(world, staff):
    """Wednesday has one place; in two weeks another client has it. On main the
    transfer went through and that date held 2 of 1."""
    full = world["next_wednesday"] + timedelta(weeks=2)
    fill(world["wednesday"], full)
    with pytest.raises(BusinessRuleError) as error:
        transfers.finish_transfer(draft=draft_to(world, staff), actor=staff, finish=PAY_LATER)
    assert f"{full:%a %-d %b}" in error.value.message
    assert error.value.field == "first_date"
    assert isinstance(error.value, services.FullDates) and error.value.dates == [full]
    assert over_capacity() == []
    assert not Transfer.objects.exists()


def test_the_final_step_checks_the_later_dates_again(world, staff):
    draft = draft_to(world, staff)  # every date free when the dates were chosen
    full = world["next_wednesday"] + timedelta(weeks=3)
    fill(world["wednesday"], full)
    with pytest.raises(services.FullDates) as error:
        transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert error.value.dates == [full]
    assert over_capacity() == [] and not Transfer.objects.exists()


def test_accepting_the_full_dates_skipped_unenrolls_from_them_and_does_not_bill_them(world, staff):
    first = first_wednesday_with_another_in_its_month(world)
    full = first + timedelta(weeks=1)  # in the first month: the invoice would bill it
    fill(world["wednesday"], full)
    draft = transfers.start_transfer(
        subscription=world["subscription"], transfer_date=world["next_monday"], actor=staff
    )
    transfers.choose_target(draft=draft, session=world["wednesday"], actor=staff)
    end = min(world["next_monday"], first)
    with pytest.raises(services.FullDates):
        transfers.choose_dates(draft=draft, first_date=first, end_date=end, actor=staff)
    transfers.choose_dates(draft=draft, first_date=first, end_date=end, skip=[full], actor=staff)
    draft.refresh_from_db()
    assert draft.skipped_dates == [full]

    month_end = (
        date(first.year, first.month + 1, 1) if first.month < 12 else date(first.year + 1, 1, 1)
    )
    billed = [
        d
        for d in world["wednesday"]
        .dates.filter(date__gte=first, date__lt=month_end)
        .exclude(cancelled=True)
        .values_list("date", flat=True)
        if d != full
    ]
    preview = transfers.preview(draft)
    assert [line.quantity for line in preview.lines] == [Decimal(len(billed))]

    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    new = outcome.transfer.to_subscription
    assert [line.quantity for line in outcome.invoice.lines.all()] == [Decimal(len(billed))]
    assert list(
        DateAbsence.objects.filter(subscription=new).values_list("session_date__date", flat=True)
    ) == [full]
    roster = roster_for(world["wednesday"].dates.get(date=full))
    assert [e.client for e in roster.absent] == [new.client]
    assert new.client not in [e.client for e in roster.attending]
    assert ClientEvent.objects.filter(
        client=new.client, kind=ClientEvent.Kind.UNENROLLED_DATE, summary__contains=f"{full:%-d %b}"
    ).exists()
    assert over_capacity() == []


def test_a_skip_accepted_for_other_dates_does_not_cover_a_new_full_date(world, staff):
    one = world["next_wednesday"] + timedelta(weeks=1)
    fill(world["wednesday"], one)
    draft = transfers.start_transfer(
        subscription=world["subscription"], transfer_date=world["next_monday"], actor=staff
    )
    transfers.choose_target(draft=draft, session=world["wednesday"], actor=staff)
    transfers.choose_dates(
        draft=draft,
        first_date=world["next_wednesday"],
        end_date=world["next_monday"],
        skip=[one],
        actor=staff,
    )
    two = world["next_wednesday"] + timedelta(weeks=2)
    fill(world["wednesday"], two)
    with pytest.raises(services.FullDates) as error:
        transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert error.value.dates == [one, two]
    assert over_capacity() == []


def test_a_session_full_for_good_is_refused_without_an_offer_to_skip(world, staff):
    """Another client holds Wednesday's place from next week with no end: the dates
    not generated yet would be over too, so skipping cannot help."""
    SubscriptionFactory(
        relationship=RelationshipFactory(),
        session=world["wednesday"],
        first_date=world["next_wednesday"] + timedelta(weeks=1),
    )
    with pytest.raises(BusinessRuleError, match="no place free for good") as error:
        draft_to(world, staff)
    assert not isinstance(error.value, services.FullDates)


@pytest.mark.django_db(transaction=True)
def test_two_transfers_from_different_first_dates_cannot_both_take_the_place(
    world, staff, monkeypatch
):
    """Wednesday has one place. Ava moves in from next week, another client from the
    week after: on main each locked only its own first date, and both went through
    (2 of 1 from the second week on)."""
    meet_after_the_checks(monkeypatch, transfers.billing, "build_subscription_invoice")
    ours = draft_to(world, staff)
    other = SubscriptionFactory(
        relationship=RelationshipFactory(),
        session=world["friday"],
        first_date=world["friday"].first_date,
    )
    theirs = transfers.start_transfer(
        subscription=other, transfer_date=world["next_friday"], actor=staff
    )
    transfers.choose_target(draft=theirs, session=world["wednesday"], actor=staff)
    later = world["next_wednesday"] + timedelta(weeks=1)
    transfers.choose_dates(
        draft=theirs, first_date=later, end_date=world["next_friday"], actor=staff
    )
    results = run_together(
        [
            lambda: transfers.finish_transfer(draft=ours, actor=staff, finish=PAY_LATER),
            lambda: transfers.finish_transfer(draft=theirs, actor=staff, finish=PAY_LATER),
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], BusinessRuleError), results
    assert Transfer.objects.count() == 1
    assert over_capacity() == []


# --- item 4: the old subscription ends soon after the new one starts ----------------------
def test_an_end_date_in_2099_is_refused_at_the_end_date(world, staff):
    with pytest.raises(BusinessRuleError, match="at most 7 days after the new one") as error:
        draft_to(world, staff, end=date(2099, 1, 1))
    assert error.value.field == "end_date"
    latest = world["next_wednesday"] + timedelta(days=7)
    assert f"{latest:%-d %b %Y}" in error.value.message


def test_the_old_subscription_may_run_one_week_past_the_new_first_date(world, staff):
    first = world["next_wednesday"]
    draft_to(world, staff, end=first + timedelta(days=7))  # the last Monday lesson, then Wednesdays
    with pytest.raises(BusinessRuleError, match="at most 7 days"):
        draft_to(world, staff, end=first + timedelta(days=8))


def test_the_overlap_allowed_is_a_setting(world, staff, settings):
    settings.OPUS_TRANSFER_MAX_OVERLAP_DAYS = 0
    with pytest.raises(BusinessRuleError, match="at most 0 days"):
        draft_to(world, staff, end=world["next_wednesday"] + timedelta(days=1))


def test_the_final_step_refuses_a_far_end_date_saved_on_the_draft(world, staff):
    draft = draft_to(world, staff)
    draft.end_date = date(2099, 1, 1)
    draft.save()
    with pytest.raises(BusinessRuleError, match="at most 7 days") as error:
        transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert error.value.field == "end_date"
    assert Subscription.objects.get(pk=world["subscription"].pk).end_date is None


# --- the dates step and the payment step ----------------------------------------------------
HX = {"HX-Request": "true"}


def wizard_at_dates(client, world):
    _, draft = start(client, world)
    client.post(step(draft, "target"), {"session": world["wednesday"].pk})
    return draft, step(draft, "dates"), step(draft, "payment")


def test_the_dates_step_names_the_full_dates_and_offers_to_skip_them(staff_client, world):
    full = world["next_wednesday"] + timedelta(weeks=2)
    fill(world["wednesday"], full)
    draft, dates, payment = wizard_at_dates(staff_client, world)
    form = {
        "first_date": world["next_wednesday"].isoformat(),
        "end_date": world["next_monday"].isoformat(),
    }
    for headers in ({}, HX):  # the page, and the #wizard fragment htmx swaps in
        response = staff_client.post(dates, form, headers=headers)
        text = response.content.decode()
        assert response.status_code == 200
        assert f"Full on {full:%a %-d %b %Y}" in text
        assert f'name="skip" value="{full:%Y-%m-%d}"' in text
        assert "Accept with that date skipped" in text
        assert ("<html" in text) is not headers
    assert staff_client.get(payment)["Location"] == dates  # nothing chosen yet

    accepted = staff_client.post(dates, {**form, "skip": full.isoformat()})
    assert accepted["Location"] == payment
    draft.refresh_from_db()
    assert draft.skipped_dates == [full]
    page = staff_client.get(payment).content.decode()
    assert f"Skipped (full):</strong> {full:%a %-d %b %Y}" in page
    again = staff_client.get(dates).content.decode()  # back to the step: the skip is kept
    assert f'name="skip" value="{full:%Y-%m-%d}"' in again and "Skipped (full)" in again


def test_the_dates_step_says_the_end_date_rule_and_refuses_2099_at_its_field(staff_client, world):
    _, dates, _ = wizard_at_dates(staff_client, world)
    assert (
        "at the latest 7 days after the new subscription"
        in staff_client.get(dates).content.decode()
    )
    response = staff_client.post(
        dates,
        {"first_date": world["next_wednesday"].isoformat(), "end_date": "2099-01-01"},
    )
    text = response.content.decode()
    field = text.split('name="end_date"')[1].split("</div>")[0]
    assert "can end at most 7 days after the new one starts" in field


@pytest.mark.parametrize("skip", ["\x00oops", "2026-02-30", "1" * 3000])
def test_a_mangled_skip_on_the_dates_step_is_an_error_not_a_500(staff_client, world, skip):
    _, dates, _ = wizard_at_dates(staff_client, world)
    response = staff_client.post(
        dates,
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
            "skip": skip,
        },
    )
    assert response.status_code == 200
    assert "The dates to skip were not understood" in response.content.decode()
