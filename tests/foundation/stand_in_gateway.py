"""A card processor that stands in for a real one where production settings are
tested: production refuses the simulated gateway, and no real processor ships
yet. It loads, so the configuration checks pass; it is never called."""

from billing.gateway import GatewayError


class StandInGateway:
    name = "stand-in"
    collects_card_in_page = False

    def create_setup(self, *, reference):
        raise GatewayError("the stand-in gateway processes nothing")

    def confirm_setup(self, *, setup, card=None, confirmation=""):
        raise GatewayError("the stand-in gateway processes nothing")

    def charge(self, *, token, amount, currency, idempotency_key, description=""):
        raise GatewayError("the stand-in gateway processes nothing")
