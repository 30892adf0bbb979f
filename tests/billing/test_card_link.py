"""The public "add a payment card" link: /card/<token>/."""

import logging
import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.test import Client as HttpClient
from django.utils import timezone

from billing.models import PaymentCardRequest, PaymentMethod
from clients.models import ClientEvent
from devkit.models import SimulatedGatewayCard
from opus.lib.logging import RedactSecretsFilter
from tests.factories import ClientFactory
from tests.support.billing import CVC, NUMBER, card_post, link, make_card_request
from tests.support.web import assert_security_headers

pytestmark = pytest.mark.django_db


def assert_link_headers(response):
    assert_security_headers(response)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


@pytest.fixture
def live():
    client = ClientFactory(first_name="Ada", last_name="Lovelace-Sentinel")
    return make_card_request(client, reason="To pay for your piano lessons")


# --- GET changes nothing ------------------------------------------------------------------------


def test_get_and_head_show_the_form_and_change_nothing(client, live):
    card_request, token = live
    response = client.get(link(token))
    assert response.status_code == 200
    assert_link_headers(response)
    page = response.content.decode()
    assert "Hello Ada." in page
    assert "Lovelace-Sentinel" not in page  # first name only
    assert "Harbour Lane Studio" in page
    assert "To pay for your piano lessons" in page
    for label in ("Card number", "Expiry month", "Expiry year", "Security code", "Name on card"):
        assert label in page
    head = client.head(link(token))
    assert head.status_code == 200
    assert_link_headers(head)
    card_request.refresh_from_db()
    assert card_request.used_at is None
    assert not PaymentMethod.objects.exists()


def test_a_valid_card_is_saved_and_uses_the_link_up(client, live):
    card_request, token = live
    response = client.post(link(token), card_post())
    assert response.status_code == 200
    assert_link_headers(response)
    assert "Your Visa card ending 4242 is saved." in response.content.decode()
    method = PaymentMethod.objects.get()
    assert (method.client, method.brand, method.last4) == (card_request.client, "visa", "4242")
    card_request.refresh_from_db()
    assert card_request.used_at is not None
    assert card_request.payment_method == method
    assert ClientEvent.objects.filter(client=method.client, kind="card").count() == 2


def test_a_browser_post_under_no_referrer_works(live):
    """no-referrer makes a browser send Origin: null on the form's POST, which
    Django's CSRF origin check would refuse; the token in the path is the secret."""
    _, token = live
    browser = HttpClient(enforce_csrf_checks=True)
    browser.get(link(token))
    response = browser.post(link(token), card_post(), headers={"Origin": "null"})
    assert response.status_code == 200
    assert PaymentMethod.objects.count() == 1


def test_extra_fields_cannot_pick_the_client(client, live):
    _, token = live
    someone = ClientFactory()
    client.post(link(token), card_post(client=someone.pk, client_id=someone.pk, brand="amex"))
    method = PaymentMethod.objects.get()
    assert method.client != someone
    assert method.brand == "visa"


def test_a_second_post_finds_the_link_used(client, live):
    _, token = live
    assert client.post(link(token), card_post()).status_code == 200
    again = client.post(link(token), card_post("5555555555554444"))
    assert again.status_code == 410
    assert_link_headers(again)
    assert "already been used" in again.content.decode()
    assert PaymentMethod.objects.count() == 1
    assert client.get(link(token)).status_code == 410


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_confirms_store_one_card():
    _, token = make_card_request()
    statuses = []
    barrier = threading.Barrier(20)

    def confirm():
        try:
            http = HttpClient()
            barrier.wait()
            statuses.append(http.post(link(token), card_post()).status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=confirm) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [410] * 19
    assert PaymentMethod.objects.count() == 1
    assert SimulatedGatewayCard.objects.count() == 1  # the losers never reached the gateway
    assert PaymentCardRequest.objects.get().payment_method == PaymentMethod.objects.get()


# --- gone, unknown, limited ---------------------------------------------------------------------


def test_an_expired_link_answers_410_and_says_what_to_do(client, live):
    card_request, token = live
    with time_machine.travel(card_request.expires_at + timedelta(seconds=1)):
        response = client.get(link(token))
        posted = client.post(link(token), card_post())
    assert response.status_code == posted.status_code == 410
    assert_link_headers(response)
    page = response.content.decode()
    assert "This link has expired" in page
    assert "Ask Harbour Lane Studio to send you a new link" in page
    assert not PaymentMethod.objects.exists()
    with time_machine.travel(card_request.expires_at - timedelta(seconds=5)):
        assert client.get(link(token)).status_code == 200


def test_a_superseded_link_answers_410(client, live):
    card_request, token = live
    make_card_request(card_request.client)
    response = client.get(link(token))
    assert response.status_code == 410
    assert "A newer link was sent to you" in response.content.decode()
    assert client.post(link(token), card_post()).status_code == 410
    assert not PaymentMethod.objects.exists()


@pytest.mark.parametrize("token", ["A" * 43, "not-a-token-at-all", "x" * 200])
def test_an_unknown_token_answers_404(client, token):
    response = client.get(link(token))
    assert response.status_code == 404
    assert_link_headers(response)
    assert "This link is not valid" in response.content.decode()


def test_repeated_bad_tokens_from_one_address_are_refused_with_429(client, live):
    _, token = live
    for i in range(10):
        assert client.get(link(f"{i:02d}" + "B" * 41)).status_code == 404
    limited = client.get(link("C" * 43))
    assert limited.status_code == 429
    assert_link_headers(limited)
    assert "Too many attempts" in limited.content.decode()
    assert client.get(link(token)).status_code == 200  # a live link is never refused
    other = HttpClient(REMOTE_ADDR="198.51.100.7")
    assert other.get(link("C" * 43)).status_code == 404
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert client.get(link("C" * 43)).status_code == 404


def test_repeated_refused_cards_on_one_link_are_refused_with_429(client, live):
    _, token = live
    for _ in range(10):
        response = client.post(link(token), card_post("4000000000000002"))
        assert response.status_code == 200
        assert "declined" in response.content.decode()
    assert client.post(link(token), card_post()).status_code == 429
    assert not PaymentMethod.objects.exists()


def test_only_get_head_and_post(client, live):
    _, token = live
    assert client.put(link(token)).status_code == 405
    assert client.delete(link(token)).status_code == 405


# --- errors never echo the card -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "cvc", "message"),
    [
        ("4242424242424241", CVC, "This card number is not valid"),
        ("4000000000000002", CVC, "declined by the bank"),
        ("4000000000000127", CVC, "security code is not right"),
        ("4242 4242", CVC, "12 to 19 digits"),
        ("4242 4242 4242 424²", CVC, "12 to 19 digits"),  # a digit int() refuses
        (NUMBER, "12²", "security code"),
        (NUMBER, "98", "at least 3 characters"),
    ],
)
def test_an_error_re_shows_the_form_without_the_card_number_or_code(
    client, live, number, cvc, message
):
    card_request, token = live
    response = client.post(link(token), card_post(number, cvc))
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "Ada Lovelace" in page  # what may be kept is kept
    assert number not in page
    assert number.replace(" ", "") not in page
    assert not re.search(rf'value="{cvc}"', page)
    assert 'name="number"' in page
    assert not re.search(r'name="number"[^>]*value=', page)
    assert not re.search(r'name="cvc"[^>]*value=', page)
    card_request.refresh_from_db()
    assert card_request.used_at is None


# --- nothing secret in logs or in the database ---------------------------------------------------


def test_no_token_or_card_digits_reach_the_logs_or_the_database(client, live, caplog):
    _, token = live
    expired_request, expired_token = make_card_request()
    PaymentCardRequest.objects.filter(pk=expired_request.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1),
        created_at=timezone.now() - timedelta(days=8),
    )
    caplog.set_level(logging.DEBUG)  # every logger, SQL included
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level:
            caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True
    try:
        client.get(link(token))
        client.post(link(token), card_post("4242424242424241"))  # refused
        client.post(link(token), card_post())  # saved
        client.get(link(token))  # used: 410
        client.get(link(expired_token))  # expired: 410
        client.get(link("Z" * 43))  # unknown: 404
        client.post(link("Y" * 43), card_post())  # unknown, with a card: 404
        client.put(link(token))  # 405
    finally:
        connection.force_debug_cursor = False

    redact = RedactSecretsFilter()
    raw = []
    for record in caplog.records:
        raw.append(record.getMessage())
        redact.filter(record)
        raw.append(record.getMessage())
    logged = "\n".join(raw)
    assert "SELECT" in logged  # SQL was captured too
    assert "/card/[redacted]/" in logged  # Django logged the 4xx paths, redacted
    for secret in (token, expired_token, "Z" * 43, "Y" * 43, NUMBER, "4242424242424241"):
        assert secret not in logged
    assert not re.search(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])", logged)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        dump = []
        for table in tables:
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608
            dump.extend(row[0] for row in cursor.fetchall())
    everything = "\n".join(dump)
    assert "4242" in everything  # the last four are kept, as intended
    for secret in (token, expired_token, NUMBER):
        assert secret not in everything
    assert not re.search(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])", everything)
