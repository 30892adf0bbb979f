"""Start-up checks of billing's configuration (run by manage.py check, migrate and
runserver; production's web container migrates before it serves)."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from billing.gateway import get_gateway


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
    return []
