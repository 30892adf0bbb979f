"""A card's consent has one home: the card (PaymentMethod.consent_*), whichever
page saved it, with the one text of billing/consent.py, shaped by the practice's
settings."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from billing import consent, services
from billing.models import PaymentMethod
from opus import practice as practices
from tests.factories import ClientFactory
from tests.support.billing import card_details, make_card_request

BEFORE = [("billing", "0009_merge_20261130_0221")]


def practice_with(**changes):
    practice = practices.from_settings()
    for name, value in changes.items():
        setattr(practice, name, value)
    practices.forget(assume=practice)
    return practice


@pytest.mark.django_db
def test_the_text_says_what_is_charged_when_and_how_to_cancel_from_the_settings():
    practice_with(
        name="Maple Music",
        email="desk@maple.example",
        phone="",
        invoice_due_days=10,
        charge_late_cancellations=True,
        cancel_notice_hours=24,
        charge_no_shows=False,
    )
    text = consent.consent_text()
    assert "authorise Maple Music to charge it for the invoices" in text  # what
    assert "late cancellations (less than 24 hours' notice)" in text
    assert "missed sessions" not in text
    assert "on or after its due date (10 days after the invoice)" in text  # when
    assert "To cancel, ask Maple Music (desk@maple.example) to remove the card" in text  # how
    version = consent.consent_version(text)
    practice_with(name="Maple Music", email="desk@maple.example", invoice_due_days=14)
    assert consent.consent_version(consent.consent_text()) != version  # a new text, a new version
    assert consent.consent_version(text) == version  # the same text, the same version


@pytest.mark.django_db
def test_the_card_link_stores_the_text_its_version_the_time_and_the_payer():
    card_request, token = make_card_request(ClientFactory(email="ada@example.com"))
    with time_machine.travel(timezone.now(), tick=False):
        card = services.add_card_from_link(token=token, card=card_details())
        at = timezone.now()
    assert card.client == card_request.client
    assert card.consent_text == consent.consent_text()
    assert card.consent_version == consent.consent_version(card.consent_text)
    assert card.consented_at == at


@pytest.mark.django_db
def test_the_database_keeps_a_consent_whole_or_absent():
    payer = ClientFactory()
    fields = {"client": payer, "gateway": "simulated", "brand": "visa", "last4": "4242"}
    PaymentMethod.objects.create(token="t1", exp_month=1, exp_year=2040, **fields)  # none: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod.objects.create(
            token="t2", exp_month=1, exp_year=2040, consent_text="Yes", **fields
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod.objects.create(
            token="t3",
            exp_month=1,
            exp_year=2040,
            consent_text="Yes",
            consent_version="v1-x",
            **fields,
        )


@pytest.mark.django_db(transaction=True)
def test_the_pay_links_consent_records_move_onto_their_cards():
    payer = ClientFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE[0]).apps
    card = old.get_model("billing", "PaymentMethod").objects.create(
        client_id=payer.pk,
        gateway="simulated",
        token="sim_tok_consented",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2040,
    )
    given = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    old.get_model("billing", "CardConsent").objects.create(
        payment_method_id=card.pk,
        client_id=payer.pk,
        text_version="2026-11-v1",
        text="Save this card and let Opus charge it for my future invoices (autopay)",
        given_at=given,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    moved = PaymentMethod.objects.get(pk=card.pk)
    assert moved.consent_version == "2026-11-v1" and moved.consented_at == given
    assert moved.consent_text.startswith("Save this card and let Opus charge it")
