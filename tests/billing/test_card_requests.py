"""request_payment_card and resend_payment_card_request: tokens, expiry, superseding."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from billing import services
from billing.models import PaymentCardRequest
from billing.tokens import derive_token, hash_token, token_for
from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail
from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory
from tests.support.billing import card_details, make_card_request

pytestmark = pytest.mark.django_db


def test_a_request_stores_only_a_hash_of_a_long_random_token(staff):
    card_request, token = make_card_request(actor=staff)
    assert len(token) == 43  # 256 bits, base64url
    assert card_request.token_hash == hash_token(token)
    assert len(card_request.nonce) == 64  # 256 random bits
    stored = PaymentCardRequest.objects.filter(pk=card_request.pk).values().get()
    assert token not in str(stored)
    lifetime = card_request.expires_at - card_request.created_at
    assert abs(lifetime - timedelta(days=7)) < timedelta(seconds=1)
    outbox = OutboundEmail.objects.get()
    assert outbox.context == {"card_request_id": card_request.pk}
    assert token not in str(outbox.context)
    assert ClientEvent.objects.filter(client=card_request.client, kind="card").exists()


def test_two_requests_never_share_a_token():
    tokens = {make_card_request()[1] for _ in range(20)}
    assert len(tokens) == 20


def test_the_token_is_rebuilt_from_the_nonce_and_survives_a_key_rotation():
    card_request, token = make_card_request()
    with override_settings(SECRET_KEY="a-brand-new-key-" * 4, SECRET_KEY_FALLBACKS=["x", _old()]):
        assert token_for(card_request) == token
    with override_settings(SECRET_KEY="a-brand-new-key-" * 4, SECRET_KEY_FALLBACKS=[]):
        assert token_for(card_request) is None
    assert derive_token(card_request.nonce) == token


def _old():
    from django.conf import settings

    return settings.SECRET_KEY


def test_a_newer_request_supersedes_the_older_one(staff):
    client = ClientFactory()
    first, _ = make_card_request(client, actor=staff)
    second, _ = make_card_request(client, actor=staff)
    first.refresh_from_db()
    assert first.superseded_at is not None
    assert second.superseded_at is None
    assert first.state_at(timezone.now()) == "superseded"
    assert second.state_at(timezone.now()) == "pending"


def test_the_database_allows_one_live_request_per_client():
    card_request, _ = make_card_request()
    with (
        pytest.raises(IntegrityError, match="card_request_one_live_per_client"),
        transaction.atomic(),
    ):
        PaymentCardRequest.objects.create(
            client=card_request.client,
            reason="r",
            nonce="n",
            token_hash="h",
            expires_at=timezone.now() + timedelta(days=1),
        )


def test_a_client_without_email_or_a_missing_reason_is_refused(staff):
    client = ClientFactory(email="")
    with pytest.raises(BusinessRuleError, match="no email address"):
        services.request_payment_card(client=client, actor=staff, reason="For lessons")
    with pytest.raises(BusinessRuleError, match="Say why"):
        services.request_payment_card(client=ClientFactory(), actor=staff, reason="  ")
    assert not PaymentCardRequest.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_the_clients_practitioner_may_ask_and_another_may_not(therapist, other_therapist):
    subscription = SubscriptionFactory(session__practitioner=therapist)
    client = subscription.client
    with pytest.raises(PermissionDenied):
        services.request_payment_card(client=client, actor=other_therapist, reason="Lessons")
    card_request = services.request_payment_card(client=client, actor=therapist, reason="Lessons")
    assert card_request.created_by == therapist
    with pytest.raises(PermissionDenied):
        services.resend_payment_card_request(card_request=card_request, actor=other_therapist)


def test_the_relationship_must_be_the_clients():
    relationship = RelationshipFactory()
    with pytest.raises(BusinessRuleError, match="not this client's"):
        services.request_payment_card(
            client=ClientFactory(), actor=SYSTEM, reason="x", relationship=relationship
        )


def test_resending_a_live_request_queues_the_same_link_once(staff):
    card_request, token = make_card_request(actor=staff)
    again = services.resend_payment_card_request(card_request=card_request, actor=staff)
    assert again.pk == card_request.pk
    assert OutboundEmail.objects.count() == 1  # the first email is still waiting: no second
    OutboundEmail.objects.update(status="sent", sent_at=timezone.now())
    services.resend_payment_card_request(card_request=card_request, actor=staff)
    services.resend_payment_card_request(card_request=card_request, actor=staff)
    assert OutboundEmail.objects.filter(status="pending").count() == 1
    assert token_for(PaymentCardRequest.objects.get(pk=card_request.pk)) == token


def test_resending_an_expired_request_makes_a_fresh_one(staff):
    card_request, token = make_card_request(actor=staff, reason="Weekly lessons")
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        fresh = services.resend_payment_card_request(card_request=card_request, actor=staff)
    assert fresh.pk != card_request.pk
    assert fresh.reason == "Weekly lessons"
    assert token_for(fresh) != token
    card_request.refresh_from_db()
    assert card_request.superseded_at is not None


def test_a_used_or_superseded_request_is_not_resent(staff):
    card_request, token = make_card_request(actor=staff)
    services.add_card_from_link(token=token, card=card_details())
    with pytest.raises(BusinessRuleError, match="already added a card"):
        services.resend_payment_card_request(card_request=card_request, actor=staff)
    old, _ = make_card_request(ClientFactory(), actor=staff)
    make_card_request(old.client, actor=staff)
    with pytest.raises(BusinessRuleError, match="newer request"):
        services.resend_payment_card_request(card_request=old, actor=staff)


def test_adding_a_card_uses_the_link_and_records_it(staff):
    card_request, token = make_card_request(actor=staff)
    method = services.add_card_from_link(token=token, card=card_details("5555555555554444"))
    card_request.refresh_from_db()
    assert card_request.used_at is not None
    assert card_request.payment_method == method
    assert (method.client, method.brand, method.last4) == (
        card_request.client,
        "mastercard",
        "4444",
    )
    assert services.card_on_file(card_request.client) == method
    assert ClientEvent.objects.filter(
        client=card_request.client, kind="card", summary__contains="Mastercard ending 4444"
    ).exists()
    with pytest.raises(services.CardLinkGone) as gone:
        services.add_card_from_link(token=token, card=card_details())
    assert gone.value.state == "used"


def test_a_declined_card_leaves_the_link_usable():
    card_request, token = make_card_request()
    with pytest.raises(services.CardDeclined):
        services.add_card_from_link(token=token, card=card_details("4000000000000002"))
    card_request.refresh_from_db()
    assert card_request.used_at is None
    assert services.add_card_from_link(token=token, card=card_details()).last4 == "4242"
