"""The "add a payment card" email through the outbox: written on commit, sent
once, retried when the provider is briefly down, never lost when the broker or
the worker is."""

import signal
import smtplib
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from anymail.exceptions import AnymailRecipientsRefused
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import close_old_connections, transaction
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import PaymentCardRequest
from billing.selectors import card_panel_context
from billing.tokens import derive_token, hash_token, new_nonce, token_for
from clients.models import Client, ClientEvent
from opus import services as outbox
from opus.lib.actors import SYSTEM
from opus.models import OutboundEmail
from opus.tasks import send_outbound_email, sweep_outbox
from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory, UserFactory
from tests.support.billing import make_card_request
from tests.support.broker import RedisServer, broker_at, free_port
from tests.support.web import logged_in


def sweep_later() -> int:
    """The periodic sweep, run once the grace period for the broker has passed."""
    with time_machine.travel(timezone.now() + outbox.SWEEP_GRACE + timedelta(seconds=1)):
        return sweep_outbox()


# --- written with the transaction, and only then ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_outbox_row_exists_only_when_the_transaction_commits(monkeypatch):
    handed_to_broker = []
    monkeypatch.setattr(outbox, "enqueue_send", handed_to_broker.append)
    client = ClientFactory()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        services.request_payment_card(client=client, actor=SYSTEM, reason="Lessons")
        assert OutboundEmail.objects.count() == 1  # inside, it is there
        raise Abort
    assert OutboundEmail.objects.count() == 0
    assert PaymentCardRequest.objects.count() == 0
    assert handed_to_broker == []

    card_request = services.request_payment_card(client=client, actor=SYSTEM, reason="Lessons")
    row = OutboundEmail.objects.get()
    assert handed_to_broker == [row.pk]
    assert row.context == {"card_request_id": card_request.pk}
    assert row.to_address == client.email


# --- the email itself ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_email_names_the_practice_and_practitioner_says_why_and_links_once(client):
    practitioner = UserFactory(first_name="Maria", last_name="Lopez")
    relationship = RelationshipFactory(practitioner=practitioner)
    card_request = services.request_payment_card(
        client=relationship.payer,
        actor=SYSTEM,
        reason="Your lessons from March are billed to your own card.",
        relationship=relationship,
    )
    row = OutboundEmail.objects.get()
    assert outbox.send_outbound(row.pk) == "sent"
    assert outbox.send_outbound(row.pk) == "skipped"  # run twice, sends once
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    token = token_for(card_request)
    assert message.to == [relationship.payer.email]
    assert message.subject == "Add a payment card for Harbour Lane Studio"
    html = message.alternatives[0][0]
    for body in (message.body, html):
        assert "Maria Lopez at Harbour Lane Studio" in body
        assert "Your lessons from March are billed to your own card." in body
        assert f"/card/{token}/" in body
        assert relationship.payer.first_name in body
    assert client.get(reverse("billing:card-link", args=[token])).status_code == 200

    card_request.refresh_from_db()
    row.refresh_from_db()
    assert card_request.sent_at == row.sent_at
    assert card_request.provider_message_id == row.provider_message_id != ""
    assert row.provider_message_id == message.extra_headers["Message-ID"]
    assert ClientEvent.objects.filter(client=card_request.client, kind="email_sent").count() == 1


@pytest.mark.django_db
def test_without_a_named_practitioner_the_email_names_the_one_leading_the_sessions():
    subscription = SubscriptionFactory(
        session__practitioner__first_name="James", session__practitioner__last_name="Okoro"
    )
    services.request_payment_card(client=subscription.client, actor=SYSTEM, reason="Lessons")
    outbox.send_outbound(OutboundEmail.objects.get().pk)
    assert "James Okoro at Harbour Lane Studio" in mail.outbox[0].body


@pytest.mark.django_db
def test_an_email_that_is_no_longer_needed_is_not_sent():
    card_request, _ = make_card_request()
    make_card_request(card_request.client)  # supersedes the first before it went out
    first_row, second_row = OutboundEmail.objects.order_by("pk")
    assert outbox.send_outbound(first_row.pk) == "skipped"
    assert outbox.send_outbound(second_row.pk) == "sent"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_resent_or_redelivered_email_carries_the_same_working_link():
    card_request, token = make_card_request()
    outbox.send_outbound(OutboundEmail.objects.get().pk)
    services.resend_payment_card_request(card_request=card_request, actor=SYSTEM)
    outbox.send_outbound(OutboundEmail.objects.get(status="pending").pk)
    assert len(mail.outbox) == 2
    assert all(f"/card/{token}/" in m.body for m in mail.outbox)


# --- provider errors ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_invalid_address_stops_and_shows_on_the_clients_history(monkeypatch, staff):
    def refuse(self, messages):
        raise AnymailRecipientsRefused("invalid address")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    card_request, _ = make_card_request(ClientFactory(email="nobody@invalid.example"))
    row = OutboundEmail.objects.get()
    assert outbox.send_outbound(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    card_request.refresh_from_db()
    assert card_request.email_failed_at is not None
    event = ClientEvent.objects.get(client=card_request.client, kind="email_failed")
    assert "nobody@invalid.example" in event.summary
    assert card_panel_context(card_request.client, staff)["state"] == "failed"
    assert sweep_later() == 0  # and no retry


@pytest.mark.django_db
def test_a_transient_error_retries_later_with_backoff(monkeypatch):
    calls = []

    def flaky(self, messages):
        calls.append(1)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("try later")
        mail.outbox.extend(messages)
        return len(messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)
    monkeypatch.setattr(outbox, "backoff", lambda attempt: 120.0)
    make_card_request()
    row = OutboundEmail.objects.get()
    now = timezone.now()
    assert outbox.send_outbound(row.pk) == "retry"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "SMTPServerDisconnected")
    assert abs((row.next_attempt_at - now).total_seconds() - 120) < 5
    with time_machine.travel(now + timedelta(seconds=60)):
        assert sweep_outbox() == 0  # not before its time
    with time_machine.travel(now + timedelta(seconds=125)):
        assert sweep_outbox() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1
    assert ClientEvent.objects.filter(kind="email_failed").count() == 0


def test_backoff_is_exponential_with_jitter_and_capped():
    for attempt in range(1, 12):
        delays = [outbox.backoff(attempt) for _ in range(200)]
        ceiling = min(3600.0, 30.0 * 2 ** (attempt - 1))
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the range: jitter
        assert len(set(delays)) > 100


@pytest.mark.django_db
def test_the_task_asks_celery_to_retry_after_the_backoff(monkeypatch):
    monkeypatch.setattr(
        EmailBackend,
        "send_messages",
        lambda self, messages: (_ for _ in ()).throw(smtplib.SMTPServerDisconnected("down")),
    )
    make_card_request()
    row = OutboundEmail.objects.get()
    asked = {}

    class Retrying(Exception):
        pass

    def retry(**kwargs):
        asked.update(kwargs)
        return Retrying()

    monkeypatch.setattr(send_outbound_email, "retry", retry)
    with pytest.raises(Retrying):
        send_outbound_email(row.pk)
    row.refresh_from_db()
    expected = (row.next_attempt_at - timezone.now()).total_seconds()
    assert abs(asked["countdown"] - max(expected, 1)) < 2


@pytest.mark.django_db
def test_a_provider_down_for_good_gives_up_after_the_last_attempt(monkeypatch):
    monkeypatch.setattr(
        EmailBackend,
        "send_messages",
        lambda self, messages: (_ for _ in ()).throw(smtplib.SMTPServerDisconnected("down")),
    )
    card_request, _ = make_card_request()
    row = OutboundEmail.objects.get()
    results = [outbox.send_outbound(row.pk) for _ in range(outbox.MAX_ATTEMPTS)]
    assert results == ["retry"] * (outbox.MAX_ATTEMPTS - 1) + ["failed"]
    assert ClientEvent.objects.filter(client=card_request.client, kind="email_failed").exists()


# --- the broker and the worker ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_request_commits_fast_and_the_sweep_sends_it_once(staff):
    client = ClientFactory()
    http = logged_in(staff)
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        started = time.monotonic()
        response = http.post(
            reverse("billing:card-request-create", args=[client.pk]), {"reason": "Lessons"}
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert elapsed < 2, f"the request took {elapsed:.2f}s with the broker down"
    row = OutboundEmail.objects.get()
    assert row.status == "pending"
    assert mail.outbox == []
    assert sweep_outbox() == 0  # too fresh: the task may still arrive
    assert sweep_later() == 1
    assert sweep_later() == 0
    assert len(mail.outbox) == 1
    assert PaymentCardRequest.objects.get().sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_hung_the_request_still_answers_within_three_seconds(staff):
    client = ClientFactory()
    http = logged_in(staff)
    redis = RedisServer(free_port())
    redis.start()
    try:
        with broker_at(redis.url):
            redis.process.send_signal(signal.SIGSTOP)  # alive, but answers nothing
            try:
                started = time.monotonic()
                response = http.post(
                    reverse("billing:card-request-create", args=[client.pk]),
                    {"reason": "Lessons"},
                )
                elapsed = time.monotonic() - started
            finally:
                redis.process.send_signal(signal.SIGCONT)
    finally:
        redis.stop()
    assert response.status_code == 302
    assert elapsed < 3, f"the request took {elapsed:.2f}s with the broker hung"
    assert sweep_later() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_worker_killed_after_the_provider_accepted_loses_nothing(monkeypatch):
    """The duplicate window: the provider accepted, the worker died before its
    commit. The row is still pending, so the email goes again (the same link):
    at least once, never lost. Both attempts are in the log with the row's id."""
    original = EmailBackend.send_messages
    crashes = []

    def accept_then_die(self, messages):
        sent = original(self, messages)
        if not crashes:
            crashes.append(1)
            raise KeyboardInterrupt  # SIGINT/SIGKILL mid-send: the transaction is lost
        return sent

    monkeypatch.setattr(EmailBackend, "send_messages", accept_then_die)
    _, token = make_card_request()
    row = OutboundEmail.objects.get()
    with pytest.raises(KeyboardInterrupt):
        outbox.send_outbound(row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    assert outbox.send_outbound(row.pk) == "sent"
    assert outbox.send_outbound(row.pk) == "skipped"
    assert len(mail.outbox) == 2
    assert all(f"/card/{token}/" in m.body for m in mail.outbox)


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_in_parallel_send_each_of_many_rows_exactly_once():
    count = 600
    clients = Client.objects.bulk_create(
        [
            Client(first_name=f"F{i}", last_name=f"L{i}", email=f"c{i}@example.com")
            for i in range(count)
        ]
    )
    expires = timezone.now() + timedelta(days=7)
    requests = []
    for c in clients:
        nonce = new_nonce()
        requests.append(
            PaymentCardRequest(
                client=c,
                reason="Lessons",
                nonce=nonce,
                token_hash=hash_token(derive_token(nonce)),
                expires_at=expires,
            )
        )
    requests = PaymentCardRequest.objects.bulk_create(requests)
    OutboundEmail.objects.bulk_create(
        [
            OutboundEmail(
                template="card_request",
                to_address=r.client.email,
                client=r.client,
                context={"card_request_id": r.pk},
            )
            for r in requests
        ]
    )
    OutboundEmail.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    sent_by = {}
    barrier = threading.Barrier(2)

    def sweeper(name):
        barrier.wait()
        total = 0
        try:
            while outbox.pending_outbox_ids():
                total += outbox.sweep_outbox()
        finally:
            close_old_connections()
        sent_by[name] = total

    started = time.monotonic()
    threads = [threading.Thread(target=sweeper, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    recipients = [m.to[0] for m in mail.outbox]
    assert len(recipients) == count, elapsed
    assert len(set(recipients)) == count
    assert sent_by["a"] + sent_by["b"] == count
    assert min(sent_by.values()) > 0  # both did work
    assert set(OutboundEmail.objects.values_list("status", "attempts")) == {("sent", 1)}
    assert PaymentCardRequest.objects.filter(sent_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_card_email_end_to_end(celery_worker_on_redis):
    client = ClientFactory()
    card_request = services.request_payment_card(client=client, actor=SYSTEM, reason="Lessons")
    deadline = time.time() + 20
    while time.time() < deadline:
        if OutboundEmail.objects.filter(status="sent").exists():
            break
        time.sleep(0.1)
    row = OutboundEmail.objects.get()
    assert row.status == "sent"
    assert len(mail.outbox) == 1
    card_request.refresh_from_db()
    assert card_request.sent_at is not None
    assert f"/card/{token_for(card_request)}/" in mail.outbox[0].body
