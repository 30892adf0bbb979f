from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        from opus.mail import register_email
        from scheduling import (  # models are ready only now
            closures,
            emails,
            schedule_cache,
            visibility,
        )

        visibility.register()
        schedule_cache.install()
        register_email(closures.CLOSURE_EMAIL, emails.CLOSURE_EMAIL_KIND)
