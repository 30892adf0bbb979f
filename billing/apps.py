from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from billing.emails import (
            AUTOPAY_DECLINED,
            AUTOPAY_DECLINED_EMAIL,
            CARD_REQUEST,
            CARD_REQUEST_EMAIL,
            INVOICE,
            INVOICE_EMAIL,
            MOVED_NOTICE,
            MOVED_NOTICE_EMAIL,
            PAYMENT_CONFIRMATION,
            PAYMENT_CONFIRMATION_EMAIL,
            RECEIPT,
            RECEIPT_EMAIL,
            REMINDER,
            REMINDER_EMAIL,
            STATEMENT,
            STATEMENT_EMAIL,
        )
        from opus.mail import register_email

        register_email(CARD_REQUEST, CARD_REQUEST_EMAIL)
        register_email(INVOICE, INVOICE_EMAIL)
        register_email(RECEIPT, RECEIPT_EMAIL)
        register_email(AUTOPAY_DECLINED, AUTOPAY_DECLINED_EMAIL)
        register_email(MOVED_NOTICE, MOVED_NOTICE_EMAIL)
        register_email(REMINDER, REMINDER_EMAIL)
        register_email(PAYMENT_CONFIRMATION, PAYMENT_CONFIRMATION_EMAIL)
        register_email(STATEMENT, STATEMENT_EMAIL)

        from billing import checks  # noqa: F401  (registers the start-up checks)
