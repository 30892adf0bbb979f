"""Start-up checks of billing's configuration (run by manage.py check, migrate and
runserver; production's web container migrates before it serves)."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from billing.gateway import get_gateway

STRIPE_JS = "https://js.stripe.com/"


@register()
def check_payment_gateway(app_configs, **kwargs):
    try:
        gateway = get_gateway()
    except ImproperlyConfigured as error:
        return [Error(str(error), hint="Set OPUS_PAYMENT_GATEWAY.", id="billing.E001")]
    if settings.PRODUCTION and gateway.name == "simulated":
        return [
            Error(
                "OPUS_PAYMENT_GATEWAY names the simulated gateway: it takes no money.",
                hint="Production needs a real card processor.",
                id="billing.E002",
            )
        ]
    if gateway.name == "stripe":
        return _stripe_settings()
    return []


def _stripe_settings() -> list[Error]:
    errors = [
        Error(
            f"OPUS_PAYMENT_GATEWAY=stripe needs {name}.",
            hint=hint,
            id="billing.E003",
        )
        for name, hint in (
            ("STRIPE_PUBLISHABLE_KEY", "Stripe.js needs it to take the card in the page."),
            ("STRIPE_WEBHOOK_SECRET", "The webhook endpoint's signing secret, from Stripe."),
        )
        if not getattr(settings, name)
    ]
    if settings.PRODUCTION and (
        settings.STRIPE_API_BASE or not settings.STRIPE_JS_URL.startswith(STRIPE_JS)
    ):
        errors.append(
            Error(
                "STRIPE_API_BASE or STRIPE_JS_URL points away from Stripe (a stand-in for "
                "the offline tests).",
                hint="Unset both in production.",
                id="billing.E004",
            )
        )
    return errors
