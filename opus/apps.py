from django.apps import AppConfig


class OpusConfig(AppConfig):
    name = "opus"
    verbose_name = "Opus"

    def ready(self) -> None:
        from opus.mail import EmailKind, register_email
        from opus.password_reset import PASSWORD_RESET_EMAIL, password_reset_email_context
        from opus.team import INVITATION_EMAIL, invitation_email_context

        register_email(INVITATION_EMAIL, EmailKind(context=invitation_email_context))
        register_email(PASSWORD_RESET_EMAIL, EmailKind(context=password_reset_email_context))
