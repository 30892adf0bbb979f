"""The enrolment, booking and withdrawal pages: full page and htmx fragment."""

from datetime import date

import pytest
from django.urls import reverse

from frontdesk.models import Enrolment, Withdrawal
from scheduling.models import Booking, SessionDate, Subscription
from tests.factories import ClientFactory, SessionFactory, SubscriptionFactory, paid_invoice_for

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
DEC_7 = date(2026, 12, 7)


def _date(w, day=DEC_7) -> SessionDate:
    return SessionDate.objects.get(session=w.session, date=day)


def _text(response) -> str:
    return " ".join(response.content.decode().split())


# --- the roster's buttons -------------------------------------------------------------------
def test_the_roster_offers_add_a_client_and_book_once(w, desk):
    page = _text(desk.get(reverse("scheduling:session-date", args=[_date(w).pk])))
    assert "Add a client" in page and "Book once" in page


def test_a_roster_row_offers_withdraw(w, desk):
    sub = SubscriptionFactory(relationship=w.ava_rel, session=w.session, first_date=DEC_7)
    sd = _date(w)
    page = desk.get(reverse("scheduling:session-date", args=[sd.pk])).content.decode()
    assert f"{reverse('scheduling:withdraw', args=[sub.pk])}?from={sd.pk}" in page


# --- Add a client ---------------------------------------------------------------------------
def test_add_a_client_finds_the_client(w, desk):
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    page = _text(desk.get(url, {"q": "ada"}))
    assert "Ava Adams" in page and "Oliver Grant" not in page
    fragment = desk.get(url, {"q": "rivera"}, **HX)
    assert fragment["Vary"] and "HX-Request" in fragment["Vary"]
    text = _text(fragment)
    assert "Sam Rivera" in text and "<html" not in text
    assert f"?client={w.sam.pk}" in text


def test_add_a_client_enrols_from_the_roster_date_with_the_default_payer(w, desk):
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    page = _text(desk.get(url, {"client": w.sam.pk}))
    assert "Enrol Sam Rivera" in page
    assert "Oliver Grant (third party)" in page
    assert 'value="2026-12-07"' in page  # the roster's date first
    response = desk.post(
        url,
        {
            "client": w.sam.pk,
            "relationship": w.sam_rel.pk,
            "first_date": "2026-12-07",
            "request_key": "abc",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("scheduling:session-date", args=[_date(w).pk])
    subscription = Subscription.objects.get(client=w.sam)
    assert subscription.session == w.session and subscription.first_date == DEC_7
    roster = _text(desk.get(response["Location"]))
    assert "Sam Rivera is enrolled in Piano, 30 min private" in roster
    assert "issued to Oliver Grant" in roster


def test_a_double_submit_enrols_once(w, desk):
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    data = {
        "client": w.ava.pk,
        "relationship": w.ava_rel.pk,
        "first_date": "2026-12-07",
        "request_key": "same",
    }
    assert desk.post(url, data).status_code == 302
    assert desk.post(url, data).status_code == 302
    assert Subscription.objects.filter(client=w.ava).count() == 1
    assert Enrolment.objects.count() == 1


def test_a_refusal_shows_by_its_field_in_the_fragment(w, desk):
    SubscriptionFactory(relationship=w.ava_rel, session=w.session, first_date=DEC_7)
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    data = {"client": w.ava.pk, "relationship": w.ava_rel.pk, "first_date": "2026-12-14"}
    fragment = desk.post(url, data, **HX)
    assert fragment.status_code == 200
    text = _text(fragment)
    assert "<html" not in text and 'id="enrol-form"' in text
    assert "Ava is already enrolled in this session on or after that date" in text
    page = _text(desk.post(url, data))
    assert "<html" in page and "already enrolled" in page


def test_a_good_htmx_post_redirects_the_whole_page(w, desk):
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    response = desk.post(
        url, {"client": w.ava.pk, "relationship": w.ava_rel.pk, "first_date": "2026-12-07"}, **HX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("scheduling:session-date", args=[_date(w).pk])


def test_full_later_dates_offer_the_skip_button(w, desk):
    for _ in range(2):
        SubscriptionFactory(
            session=w.session, first_date=date(2026, 12, 21), end_date=date(2026, 12, 22)
        )
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    data = {"client": w.ava.pk, "relationship": w.ava_rel.pk, "first_date": "2026-12-07"}
    page = _text(desk.post(url, data))
    assert "Full on Mon 21 Dec 2026" in page
    assert "Enrol with that date skipped" in page and 'value="2026-12-21"' in page
    assert desk.post(url, {**data, "skip": "2026-12-21"}).status_code == 302
    assert Subscription.objects.get(client=w.ava).absences.count() == 1


def test_a_client_with_no_payer_is_told_so(w, desk):
    nobody = ClientFactory(first_name="Nora", last_name="Nobody")
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    page = _text(desk.get(url, {"client": nobody.pk}))
    assert "Nora has no active relationship" in page


# --- Enrol on the profile -------------------------------------------------------------------
def test_enrol_from_the_profile(w, desk):
    profile = _text(desk.get(reverse("clients:detail", args=[w.ava.pk])))
    assert reverse("clients:enrol", args=[w.ava.pk]) in profile
    url = reverse("clients:enrol", args=[w.ava.pk])
    page = _text(desk.get(url))
    assert "Piano, 30 min private: Mondays 17:00" in page
    fragment = desk.post(url, {"session": w.session.pk, "relationship": ""}, **HX)
    text = _text(fragment)
    assert "<html" not in text and "Choose who pays" in text and "Choose the first date." in text
    response = desk.post(
        url, {"session": w.session.pk, "relationship": w.ava_rel.pk, "first_date": "2026-12-14"}
    )
    assert response["Location"] == reverse("clients:detail", args=[w.ava.pk])
    assert Subscription.objects.get(client=w.ava).first_date == date(2026, 12, 14)


def test_the_session_must_be_one_offered(w, desk, other_therapist):
    retired = SessionFactory()
    retired.service.is_active = False
    retired.service.save()
    url = reverse("clients:enrol", args=[w.ava.pk])
    page = _text(
        desk.post(
            url, {"session": retired.pk, "relationship": w.ava_rel.pk, "first_date": "2026-12-14"}
        )
    )
    assert "Choose a session." in page
    assert not Subscription.objects.exists()


# --- Book once ------------------------------------------------------------------------------
def test_book_once_books_the_date_only(w, desk):
    sd = _date(w)
    url = reverse("scheduling:book-once", args=[sd.pk])
    page = _text(desk.get(url, {"client": w.sam.pk}))
    assert "Book Sam Rivera once" in page
    response = desk.post(url, {"client": w.sam.pk, "relationship": w.sam_rel.pk})
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.client, booking.session_date, booking.relationship) == (w.sam, sd, w.sam_rel)
    assert booking.invoice_lines.get().invoice.payer == w.oliver
    # twice: refused with a message, still one booking
    again = _text(desk.post(url, {"client": w.sam.pk, "relationship": w.sam_rel.pk}, **HX))
    assert "Sam is already booked on this date." in again and "<html" not in again
    assert Booking.objects.count() == 1


def test_book_once_on_a_full_date_is_refused(w, desk):
    for _ in range(2):
        SubscriptionFactory(session=w.session, first_date=DEC_7, end_date=date(2026, 12, 8))
    url = reverse("scheduling:book-once", args=[_date(w).pk])
    page = _text(desk.post(url, {"client": w.sam.pk, "relationship": w.sam_rel.pk}))
    assert "is full" in page and not Booking.objects.exists()


# --- Withdraw -------------------------------------------------------------------------------
def test_withdraw_shows_what_is_left_unused_then_withdraws(w, desk, staff):
    sub = SubscriptionFactory(
        relationship=w.sam_rel, session=w.session, first_date=date(2026, 11, 2)
    )
    paid_invoice_for(sub, 8, staff)
    sd = _date(w)
    url = reverse("scheduling:withdraw", args=[sub.pk])
    page = _text(desk.get(url, {"from": sd.pk}))
    assert 'value="2026-11-30"' in page  # the last date before the roster's
    assert "£90.00 paid by Oliver Grant will be left unused: 3 sessions" in page
    assert "to be refunded or credited by staff" in page
    preview = desk.get(
        url,
        {"from": sd.pk, "last_date": "2026-12-07"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="withdraw-preview",
    )
    text = _text(preview)
    assert "<html" not in text and 'id="withdraw-preview"' in text
    assert "£60.00 paid by Oliver Grant will be left unused: 2 sessions" in text
    response = desk.post(
        url, {"from": sd.pk, "last_date": "2026-11-30", "reason": "moved_away", "note": ""}
    )
    assert response["Location"] == reverse("scheduling:session-date", args=[sd.pk])
    assert Withdrawal.objects.get().reason == "moved_away"
    roster = _text(desk.get(response["Location"]))
    assert "Sam Rivera is withdrawn from Piano, 30 min private after Mon 30 Nov 2026." in roster
    assert "£90.00 paid by Oliver Grant is left unused" in roster


def test_withdraw_refusals_show_in_the_fragment(w, desk):
    sub = SubscriptionFactory(relationship=w.sam_rel, session=w.session, first_date=DEC_7)
    url = reverse("scheduling:withdraw", args=[sub.pk])
    text = _text(desk.post(url, {"last_date": "2026-11-30", "reason": "other"}, **HX))
    assert "<html" not in text
    assert "Say why, in a note, when the reason is Other." in text
    text = _text(desk.post(url, {"last_date": "2026-11-30", "reason": "cost"}, **HX))
    assert "The last date cannot be before the subscription&#x27;s first date" in text
    assert not Withdrawal.objects.exists()


def test_a_withdrawn_subscription_says_so(w, desk, staff):
    sub = SubscriptionFactory(
        relationship=w.sam_rel, session=w.session, first_date=date(2026, 11, 2)
    )
    url = reverse("scheduling:withdraw", args=[sub.pk])
    data = {"last_date": "2026-11-30", "reason": "cost"}
    assert desk.post(url, data).status_code == 302
    page = _text(desk.post(url, data))
    assert "was withdrawn from this subscription after Mon 30 Nov 2026 (cost)" in page
    assert Withdrawal.objects.count() == 1


def test_the_profile_offers_withdraw(w, desk):
    sub = SubscriptionFactory(relationship=w.ava_rel, session=w.session, first_date=DEC_7)
    page = desk.get(reverse("clients:detail", args=[w.ava.pk])).content.decode()
    assert reverse("scheduling:withdraw", args=[sub.pk]) in page


# --- practitioners --------------------------------------------------------------------------
def test_the_sessions_practitioner_may_enrol_and_withdraw(w, tess):
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    response = tess.post(
        url, {"client": w.ava.pk, "relationship": w.ava_rel.pk, "first_date": "2026-12-07"}
    )
    assert response.status_code == 302
    sub = Subscription.objects.get(client=w.ava)
    response = tess.post(
        reverse("scheduling:withdraw", args=[sub.pk]),
        {"last_date": "2026-12-07", "reason": "schedule"},
    )
    assert response.status_code == 302 and Withdrawal.objects.exists()


def test_another_practitioners_client_in_the_form_is_404(w, tess, c2_world):
    """T1, on their own session date, names C2 (another practitioner's client)."""
    sd = _date(w)
    for name in ("scheduling:add-client", "scheduling:book-once"):
        url = reverse(name, args=[sd.pk])
        assert tess.get(url, {"client": c2_world["client"].pk}).status_code == 404
        posted = tess.post(
            url,
            {
                "client": c2_world["client"].pk,
                "relationship": c2_world["relationship"].pk,
                "first_date": "2026-12-07",
            },
        )
        assert posted.status_code == 404
    assert not Subscription.objects.filter(client=c2_world["client"], session=w.session).exists()


def test_another_clients_relationship_is_not_a_choice(w, desk):
    url = reverse("scheduling:add-client", args=[_date(w).pk])
    page = _text(
        desk.post(
            url, {"client": w.ava.pk, "relationship": w.sam_rel.pk, "first_date": "2026-12-07"}
        )
    )
    assert "Choose who pays (the relationship)." in page
    assert not Subscription.objects.exists()
