from django.apps import AppConfig


class FrontdeskConfig(AppConfig):
    name = "frontdesk"
    verbose_name = "Front desk"

    def ready(self) -> None:
        from billing.signals import card_added  # models are ready only now
        from frontdesk import visibility
        from frontdesk.emails import WITHDRAWAL_EMAIL_KIND
        from frontdesk.relationship_flows import mark_card_added
        from frontdesk.withdrawals import WITHDRAWAL_EMAIL
        from opus.mail import register_email

        visibility.register()
        register_email(WITHDRAWAL_EMAIL, WITHDRAWAL_EMAIL_KIND)
        card_added.connect(mark_card_added, dispatch_uid="frontdesk.mark_card_added")
