from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        from opus.mail import register_email
        from scheduling import closures, emails, visibility  # models are ready only now

        visibility.register()
        register_email(closures.CLOSURE_EMAIL, emails.CLOSURE_EMAIL_KIND)
