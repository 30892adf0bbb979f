"""Email: one helper that renders a message from templates/emails/<name>/, and the
registry of email kinds the outbox knows how to send. (Development keeps sent mail
for an in-browser mailbox: devkit/mail.py.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string

from opus import practice as practices


def build_message(name: str, *, to: str, context: dict) -> EmailMultiAlternatives:
    """The practice's details (``practice``, ``practice_name``) are in every
    email's context: templates/emails/_footer.* shows them."""
    practice = practices.current()
    context = {"practice": practice, "practice_name": practice.name, **context}
    subject = " ".join(render_to_string(f"emails/{name}/subject.txt", context).split())
    text = render_to_string(f"emails/{name}/body.txt", context)
    html = render_to_string(f"emails/{name}/body.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        # the sender is often a no-reply address; the emails invite a reply to the practice
        reply_to=[practice.reply_to_header] if practice.reply_to else [],
        # our own id, so that even a backend that reports none (SMTP) leaves one to store
        headers={"Message-ID": make_msgid(domain="opus.localhost")},
    )
    message.attach_alternative(html, "text/html")
    return message


def provider_message_id(message: EmailMultiAlternatives) -> str:
    """The id the provider gave the message (anymail), or the Message-ID we set."""
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return message.extra_headers.get("Message-ID", "")


@dataclass(frozen=True)
class EmailKind:
    """How the outbox renders and finishes one kind of email.

    ``context`` builds the template context from the outbox row (ids in, objects
    out); it returns None when the email no longer needs sending. ``on_sent``
    and ``on_failed`` run in the sending transaction. ``attachments`` takes the
    row and the context and returns (filename, content, mimetype) tuples: files
    made by the worker as it sends (an invoice's PDF), never in a request.
    """

    context: Callable
    on_sent: Callable | None = None
    on_failed: Callable | None = None
    attachments: Callable | None = None


EMAIL_KINDS: dict[str, EmailKind] = {}


def register_email(name: str, kind: EmailKind) -> None:
    EMAIL_KINDS[name] = kind
