"""The development mailbox: a backend that 'sends' by storing the message, for
staff to read at /dev/mail/ (EMAIL_PROVIDER=devmailbox, the development default)."""

from django.core.mail.backends.base import BaseEmailBackend
from django.utils.crypto import get_random_string

from devkit.models import DevMail


class DevMailboxBackend(BaseEmailBackend):
    """'Sends' by storing the message (with a Message-ID, as a provider would report)."""

    def send_messages(self, email_messages):
        for message in email_messages:
            message_id = f"<{get_random_string(24)}@opus.localhost>"
            message.extra_headers["Message-ID"] = message_id
            html = next(
                (
                    body
                    for body, kind in getattr(message, "alternatives", [])
                    if kind == "text/html"
                ),
                "",
            )
            DevMail.objects.create(
                to=", ".join(message.to),
                from_email=message.from_email,
                subject=message.subject,
                body_text=message.body,
                body_html=html,
                message_id=message_id,
            )
        return len(email_messages)
