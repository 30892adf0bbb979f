"""localstripe (a fake, stateful Stripe server on PyPI, with a stand-in Stripe.js)
as a subprocess on a free port, for the Stripe adapter's offline tests."""

import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import stripe

from billing import services
from billing.stripe_gateway import _metadata
from billing.stripe_gateway import client as stripe_client
from billing.tokens import token_for
from opus.lib.actors import SYSTEM
from tests.support.billing import next_year
from tests.support.broker import free_port

WEBHOOK_SECRET = "whsec_opus_offline_tests"
SECRET_KEY = "sk_test_opus_offline"
PUBLISHABLE_KEY = "pk_test_opus_offline"


class LocalStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(self.port), "--from-scratch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("localstripe did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def signed(
    event: dict, *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, str]:
    """A webhook body and its Stripe-Signature header, signed as Stripe (and
    localstripe) sign them."""
    at = at or int(time.time())
    payload = json.dumps(event).encode()
    signature = hmac.new(secret.encode(), b"%d.%s" % (at, payload), hashlib.sha256).hexdigest()
    return payload, f"t={at},v1={signature}"


def configure(settings, server: LocalStripe) -> None:
    """Point Opus's Stripe settings at the localstripe server."""
    settings.OPUS_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_JS_URL = f"{server.url}/js.stripe.com/v3/"


# --- what the tests of every layer share ------------------------------------------------------

# Cards localstripe understands (Stripe's test numbers).
SUCCEEDS = "4242424242424242"
CHARGE_DECLINED = "4000000000000341"  # saved; every charge declined
SAVE_DECLINED = "4000000000000002"
NEEDS_AUTHENTICATION = "4000002760003184"  # the bank checks it when saved and on every charge


@pytest.fixture(scope="session")
def stripe_server():
    """One localstripe for the session (import this fixture into a test module)."""
    server = LocalStripe()
    server.start()
    yield server
    server.stop()


def browser_confirms(setup_id: str, number: str, *, exp_year: int | None = None) -> None:
    """What Stripe.js does in the page: the card goes to Stripe, never to Opus
    (and a bank's check on saving the card is completed, as the payer would)."""
    with contextlib.suppress(stripe.CardError):  # the page shows Stripe's message
        setup = stripe_client().v1.setup_intents.confirm(
            setup_id,
            params={
                "payment_method_data": {
                    "type": "card",
                    "card": {
                        "number": number,
                        "exp_month": 12,
                        "exp_year": exp_year or next_year(),
                        "cvc": "123",
                    },
                }
            },
        )
        if setup.status == "requires_action":
            stripe_client().v1.setup_intents.confirm(setup_id)


def intents_for(key: str) -> list:
    """The PaymentIntents localstripe holds for an attempt's idempotency key."""
    return [
        intent
        for intent in stripe_client()
        .v1.payment_intents.list(params={"limit": 100})
        .auto_paging_iter()
        if _metadata(intent).get("opus_key") == key
    ]


def card_on_file(payer, number: str = SUCCEEDS):
    """A card saved at localstripe through a card link, as the page does it."""
    card_request = services.request_payment_card(client=payer, actor=SYSTEM, reason="Lessons")
    setup = services.card_setup_for_link(card_request=card_request)
    browser_confirms(setup.id, number)
    return services.add_card_from_link(token=token_for(card_request), confirmation=setup.id)
