"""The simulated processor, and charging a card on file through it."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from django.utils import timezone

from billing import services
from billing.gateway import CardDeclined, CardError, GatewayError, get_gateway
from billing.models import Payment
from clients.models import ClientEvent
from devkit.gateway import SimulatedGateway, card_brand, luhn_valid
from devkit.models import SimulatedGatewayCard, SimulatedGatewayCharge
from opus.lib.errors import BusinessRuleError
from tests.factories import ClientFactory, PaymentMethodFactory
from tests.support.billing import card_details, open_invoice, save_card

pytestmark = pytest.mark.django_db


def confirm(number, cvc="123", **kwargs):
    gateway = SimulatedGateway()
    return gateway.confirm_setup(
        setup=gateway.create_setup(reference="t"), card=card_details(number, cvc, **kwargs)
    )


@pytest.mark.parametrize(
    ("number", "cvc", "brand"),
    [
        ("4242424242424242", "123", "visa"),
        ("5555555555554444", "123", "mastercard"),
        ("378282246310005", "1234", "amex"),
        ("4242 4242 4242 4242", "123", "visa"),
    ],
)
def test_test_cards_are_tokenised_and_only_the_shown_parts_come_back(number, cvc, brand):
    saved = confirm(number, cvc)
    assert (saved.brand, saved.last4, saved.gateway) == (brand, number[-4:], "simulated")
    assert saved.token.startswith("sim_tok_")
    vault = SimulatedGatewayCard.objects.get(token=saved.token)
    assert (vault.brand, vault.last4) == (brand, number[-4:])


@pytest.mark.parametrize(
    ("number", "cvc", "code", "field"),
    [
        ("4000000000000002", "123", "card_declined", "number"),
        ("4000000000000069", "123", "expired_card", "number"),
        ("4000000000000127", "123", "incorrect_cvc", "cvc"),
        ("4111111111111112", "123", "incorrect_number", "number"),  # fails Luhn
        ("4111111111111111", "123", "live_card_in_test_mode", "number"),  # a real-looking card
        ("378282246310005", "123", "invalid_cvc", "cvc"),  # amex needs 4 digits
    ],
)
def test_declined_and_invalid_cards_save_nothing(number, cvc, code, field):
    with pytest.raises(CardError) as refused:
        confirm(number, cvc)
    assert refused.value.code == code
    assert refused.value.field == field
    assert number not in refused.value.message
    assert not SimulatedGatewayCard.objects.exists()


def test_setup_declines_are_card_declined_errors():
    with pytest.raises(CardDeclined):
        confirm("4000000000000002")


def test_an_expiry_in_the_past_is_refused():
    today = timezone.localdate()
    last_month = date(today.year, today.month, 1) - timedelta(days=1)
    year, month = last_month.year, last_month.month
    with pytest.raises(CardError, match="expiry date is in the past") as refused:
        confirm("4242424242424242", exp_month=month, exp_year=year)
    assert refused.value.code == "invalid_expiry"
    # this month still works
    assert confirm("4242424242424242", exp_month=today.month, exp_year=today.year).token


def test_luhn_and_brands():
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("42424242")
    assert card_brand("2223003122003222") == "mastercard"
    assert card_brand("6011111111111117") == "discover"


@pytest.mark.parametrize("configured", ["simulated", "devkit.gateway.SimulatedGateway"])
def test_the_simulated_gateway_is_the_development_kits(settings, configured):
    settings.OPUS_PAYMENT_GATEWAY = configured
    assert type(get_gateway()) is SimulatedGateway


def test_the_simulated_gateways_old_path_says_where_it_went(settings):
    settings.OPUS_PAYMENT_GATEWAY = "billing.gateway.SimulatedGateway"
    with pytest.raises(ImproperlyConfigured, match="moved to the development kit"):
        get_gateway()


def test_the_card_repr_never_shows_the_number_or_code():
    text = repr(card_details("4242424242424242", "987"))
    assert "4242424242424242" not in text
    assert "987" not in text


def test_a_charge_is_honoured_once_per_idempotency_key():
    token = confirm("4242424242424242").token
    gateway = get_gateway()
    first = gateway.charge(token=token, amount=Decimal("10"), currency="GBP", idempotency_key="k1")
    again = gateway.charge(token=token, amount=Decimal("10"), currency="GBP", idempotency_key="k1")
    assert first.succeeded and first == again
    assert SimulatedGatewayCharge.objects.count() == 1
    with pytest.raises(GatewayError, match="different parameters"):
        gateway.charge(token=token, amount=Decimal("11"), currency="GBP", idempotency_key="k1")


@pytest.mark.parametrize(
    ("number", "code"),
    [("4000000000009995", "insufficient_funds"), ("4000000000000341", "card_declined")],
)
def test_some_cards_save_but_decline_every_charge(number, code):
    token = confirm(number).token
    result = get_gateway().charge(
        token=token, amount=Decimal("10"), currency="GBP", idempotency_key="k"
    )
    assert not result.succeeded
    assert result.decline_code == code


# --- charge_card: with no transaction open, so these tests commit (transaction=True) ---------


@pytest.mark.django_db(transaction=True)
def test_charging_the_card_on_file_pays_the_balance_once_per_key(staff):
    invoice = open_invoice(amount="75.50")
    services.record_payment(invoice=invoice, amount="25.50", method="cash", actor=staff)
    card = save_card(invoice.payer)
    first = services.charge_card(
        invoice=invoice, payment_method=card, request_key="page-1", actor=staff
    )
    again = services.charge_card(
        invoice=invoice, payment_method=card, request_key="page-1", actor=staff
    )
    assert first == again
    assert (first.amount, first.method, first.payment_method) == (Decimal("50.00"), "card", card)
    assert first.gateway_charge_id.startswith("ch_sim_")
    assert SimulatedGatewayCharge.objects.count() == 1
    assert Payment.objects.filter(method="card").count() == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert ClientEvent.objects.filter(summary__contains="charged to Visa ending 4242").exists()
    with pytest.raises(BusinessRuleError, match="paid: nothing to charge"):
        services.charge_card(
            invoice=invoice, payment_method=card, request_key="page-2", actor=staff
        )


@pytest.mark.django_db(transaction=True)
def test_a_double_click_charging_from_two_threads_charges_once(staff):
    invoice = open_invoice(amount="40")
    card = save_card(invoice.payer)
    results, errors = [], []
    barrier = threading.Barrier(6)

    def charge():
        try:
            barrier.wait()
            results.append(
                services.charge_card(
                    invoice=invoice, payment_method=card, request_key="same", actor=staff
                ).pk
            )
        except Exception as error:  # pragma: no cover - asserted below
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=charge) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert Payment.objects.count() == 1
    assert SimulatedGatewayCharge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_declined_charge_leaves_nothing_half_done_and_says_why(staff):
    invoice = open_invoice(amount="30")
    card = save_card(invoice.payer, number="4000000000009995")
    with pytest.raises(CardDeclined, match=r"Visa ending 9995 was declined: .*insufficient funds"):
        services.charge_card(invoice=invoice, payment_method=card, request_key="k", actor=staff)
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert not Payment.objects.exists()
    assert ClientEvent.objects.filter(
        client=invoice.payer, kind="payment", summary__contains="declined"
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_only_a_usable_card_of_the_payer_is_charged(staff):
    invoice = open_invoice()
    someone_elses = save_card(ClientFactory())
    expired = PaymentMethodFactory(client=invoice.payer, exp_year=2021)
    removed = PaymentMethodFactory(client=invoice.payer, removed_at=timezone.now())
    for card in (someone_elses, expired, removed):
        with pytest.raises(BusinessRuleError, match="not a usable card of the payer"):
            services.charge_card(
                invoice=invoice, payment_method=card, request_key=f"k{card.pk}", actor=staff
            )
    assert not Payment.objects.exists()
    with pytest.raises(BusinessRuleError, match="no valid key"):
        services.charge_card(
            invoice=invoice, payment_method=someone_elses, request_key="", actor=staff
        )


def test_card_on_file_is_the_newest_usable_card():
    client = ClientFactory()
    assert services.card_on_file(client) is None
    older = PaymentMethodFactory(client=client)
    newer = PaymentMethodFactory(client=client)
    PaymentMethodFactory(client=client, exp_year=2020)  # expired, newest of all
    assert services.card_on_file(client) == newer
    newer.removed_at = timezone.now()
    newer.save()
    assert services.card_on_file(client) == older
