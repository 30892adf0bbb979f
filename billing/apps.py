from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from billing.emails import (
            CARD_REQUEST,
            CARD_REQUEST_EMAIL,
            INVOICE,
            INVOICE_EMAIL,
            PAYMENT_CONFIRMATION,
            PAYMENT_CONFIRMATION_EMAIL,
        )
        from opus.mail import register_email

        register_email(CARD_REQUEST, CARD_REQUEST_EMAIL)
        register_email(INVOICE, INVOICE_EMAIL)
        register_email(PAYMENT_CONFIRMATION, PAYMENT_CONFIRMATION_EMAIL)

        from billing import checks  # noqa: F401  (registers the start-up checks)
