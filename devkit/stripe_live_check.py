"""Check the Stripe calls Opus makes against a real Stripe account in test mode,
where Stripe is reachable (no machine of the team's is). What localstripe (the
offline tests) does not model is checked here: idempotency-key replays, the
off-session answer of a card that needs 3-D Secure, Stripe's own decline codes,
and metadata lookups on the real list API.

    STRIPE_SECRET_KEY=sk_test_... python devkit/stripe_live_check.py

It refuses a live key. It creates a customer, saves Stripe's test cards by
SetupIntents, charges them off-session with the parameters billing/stripe_gateway.py
sends, refunds one charge, and prints one line per check; it exits 1 if any fails.
Nothing in Opus's database is touched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import time
import uuid

import stripe

CHECKS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    CHECKS.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")


def saved_card(client: stripe.StripeClient, customer: str, test_method: str) -> str:
    """A SetupIntent as the card page makes it, confirmed with one of Stripe's test
    PaymentMethods (what Stripe.js does in the page)."""
    setup = client.v1.setup_intents.create(
        params={
            "customer": customer,
            "usage": "off_session",
            "metadata": {"opus_reference": "live"},
        }
    )
    setup = client.v1.setup_intents.confirm(setup.id, params={"payment_method": test_method})
    assert setup.status == "succeeded", setup.status
    return (
        setup.payment_method if isinstance(setup.payment_method, str) else setup.payment_method.id
    )


def charge(client, customer, method, key, amount=1234):
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "gbp",
            "customer": customer,
            "payment_method": method,
            "confirm": True,
            "off_session": True,
            "metadata": {"opus_key": key, "description": "Opus live check"},
        },
        options={"idempotency_key": key},
    )


def main() -> int:
    key = os.environ.get("STRIPE_SECRET_KEY", "")
    if not key.startswith(("sk_test_", "rk_test_")):
        print("Set STRIPE_SECRET_KEY to a test-mode key (sk_test_...).")
        return 2
    client = stripe.StripeClient(key, max_network_retries=2)
    customer = client.v1.customers.create(params={"metadata": {"opus_client": "live-check"}}).id
    check("customer created", customer.startswith("cus_"), customer)

    visa = saved_card(client, customer, "pm_card_visa")
    method = client.v1.payment_methods.retrieve(visa)
    check(
        "card saved by a SetupIntent",
        method.card.last4 == "4242",
        f"{method.card.brand} {method.card.last4}",
    )

    attempt = uuid.uuid4().hex
    first = charge(client, customer, visa, attempt)
    check("off-session charge succeeds", first.status == "succeeded", first.id)
    replay = charge(client, customer, visa, attempt)
    check("the same key replays the first answer", replay.id == first.id, replay.id)
    found = [
        i
        for i in client.v1.payment_intents.list(
            params={"limit": 100, "customer": customer}
        ).auto_paging_iter()
        if (i.metadata.to_dict() if i.metadata else {}).get("opus_key") == attempt
    ]
    check("the reconciliation finds it by metadata", len(found) == 1)
    try:
        charge(client, customer, visa, attempt, amount=999)
        check("a reused key with other parameters is refused", False)
    except stripe.IdempotencyError:
        check("a reused key with other parameters is refused", True)

    declining = saved_card(client, customer, "pm_card_chargeDeclinedInsufficientFunds")
    try:
        charge(client, customer, declining, uuid.uuid4().hex)
        check("a decline is a CardError", False)
    except stripe.CardError as error:
        body = (error.json_body or {}).get("error", {})
        check("a decline is a CardError", True, body.get("decline_code") or body.get("code"))

    needs_3ds = saved_card(client, customer, "pm_card_authenticationRequired")
    try:
        charge(client, customer, needs_3ds, uuid.uuid4().hex)
        check("3-D Secure off-session answers authentication_required", False)
    except stripe.CardError as error:
        body = (error.json_body or {}).get("error", {})
        intent = body.get("payment_intent") or {}
        check(
            "3-D Secure off-session answers authentication_required",
            body.get("code") == "authentication_required" and bool(intent.get("client_secret")),
            intent.get("status", ""),
        )

    refund_key = uuid.uuid4().hex
    refund = client.v1.refunds.create(
        params={"payment_intent": first.id, "amount": 234, "metadata": {"opus_key": refund_key}},
        options={"idempotency_key": refund_key},
    )
    check("a partial refund", refund.status in ("succeeded", "pending"), refund.id)

    secret = "whsec_" + uuid.uuid4().hex  # a signature made and checked here
    payload = '{"id": "evt_live_check", "type": "ping", "object": "event"}'
    now = int(time.time())
    digest = hmac.new(secret.encode(), f"{now}.{payload}".encode(), hashlib.sha256).hexdigest()
    signature = f"t={now},v1={digest}"
    event = stripe.Webhook.construct_event(payload, signature, secret)
    check("a signed webhook verifies", event.id == "evt_live_check")

    failed = [name for name, ok, _ in CHECKS if not ok]
    print(f"{len(CHECKS) - len(failed)} of {len(CHECKS)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
