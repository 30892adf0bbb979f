from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"

    def ready(self) -> None:
        from relationships import visibility  # models are ready only now

        visibility.register()
