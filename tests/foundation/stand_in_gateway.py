"""A card processor that stands in for a real one where production settings are
tested: production refuses the simulated gateway, and no real processor ships
yet. It loads, so the configuration checks pass. It takes cards in the page like
Stripe, so the card link's page starts a setup with it (one that never completes);
nothing else is ever called."""

from billing.gateway import CardSetup, GatewayError


class StandInGateway:
    name = "stand-in"
    collects_card_in_page = False

    def create_setup(self, *, reference, payer=None):
        return CardSetup(id=f"stand-in-{reference}")

    def retrieve_setup(self, *, setup_id):
        return CardSetup(id=setup_id)

    def confirm_setup(self, *, setup, card=None, confirmation=""):
        raise GatewayError("the stand-in gateway processes nothing")

    def charge(self, *, token, amount, currency, idempotency_key, description=""):
        raise GatewayError("the stand-in gateway processes nothing")
