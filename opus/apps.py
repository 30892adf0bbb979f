from django.apps import AppConfig


class OpusConfig(AppConfig):
    name = "opus"
    verbose_name = "Opus"
