"""Stripe's configuration, checked at start-up, and the Content-Security-Policy of
the pages that mount Stripe.js: exactly Stripe's domains, nonces kept (no Stripe
server needed: nothing here calls it)."""

from django.utils.csp import CSP

from billing.checks import check_payment_gateway
from billing.stripe_gateway import page_csp


def stripe(settings, **overrides):
    settings.OPUS_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_x"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    for name, value in overrides.items():
        setattr(settings, name, value)


def ids(errors) -> list[str]:
    return [error.id for error in errors]


def test_stripe_with_its_three_keys_passes_the_checks(settings):
    stripe(settings, PRODUCTION=True)
    assert check_payment_gateway(None) == []


def test_each_missing_key_is_named(settings):
    stripe(settings, STRIPE_SECRET_KEY="")
    assert ids(check_payment_gateway(None)) == ["billing.E001"]
    stripe(settings, STRIPE_PUBLISHABLE_KEY="", STRIPE_WEBHOOK_SECRET="")
    errors = check_payment_gateway(None)
    assert ids(errors) == ["billing.E003", "billing.E003"]
    assert "STRIPE_PUBLISHABLE_KEY" in errors[0].msg and "STRIPE_WEBHOOK_SECRET" in errors[1].msg


def test_production_refuses_a_stand_in_stripe(settings):
    stripe(settings, PRODUCTION=True, STRIPE_API_BASE="http://127.0.0.1:8420")
    assert ids(check_payment_gateway(None)) == ["billing.E004"]
    stripe(settings, PRODUCTION=True, STRIPE_JS_URL="http://127.0.0.1:8420/js.stripe.com/v3/")
    assert ids(check_payment_gateway(None)) == ["billing.E004"]
    stripe(settings, PRODUCTION=False, STRIPE_API_BASE="http://127.0.0.1:8420")
    assert check_payment_gateway(None) == []  # the offline tests


def test_the_card_pages_open_exactly_stripes_domains_and_keep_the_nonce(settings):
    stripe(settings)
    site = settings.SECURE_CSP
    policy = page_csp()
    assert policy["script-src"] == [
        *site["script-src"],
        "https://js.stripe.com",
        "https://*.js.stripe.com",
    ]
    assert CSP.NONCE in policy["script-src"] and "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-src"] == [
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
    ]
    assert policy["connect-src"] == [CSP.SELF, "https://api.stripe.com"]
    untouched = set(site) - {"script-src", "frame-src", "connect-src"}
    assert {name: policy[name] for name in untouched} == {name: site[name] for name in untouched}
    assert "stripe" not in str(site)  # every other page keeps the site's own policy
