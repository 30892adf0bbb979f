from django.apps import AppConfig


class FrontdeskConfig(AppConfig):
    name = "frontdesk"
    verbose_name = "Front desk"

    def ready(self) -> None:
        from billing.signals import card_added  # models are ready only now
        from frontdesk import visibility
        from frontdesk.relationship_flows import mark_card_added

        visibility.register()
        card_added.connect(mark_card_added, dispatch_uid="frontdesk.mark_card_added")
