"""Helpers for the team's tests: invite someone, read the links the outbox sends."""

from __future__ import annotations

import re

from django.core import mail
from django.urls import reverse

from opus import team
from opus.models import OutboundEmail
from opus.services import send_outbound


def invite(
    actor, *, email="ivy@example.com", role="practitioner", first_name="Ivy", last_name="Vited"
):
    invitation = team.invite_user(
        first_name=first_name, last_name=last_name, email=email, role=role, actor=actor
    )
    return invitation, team.invitation_token(invitation)


def invitation_url(token: str) -> str:
    return reverse("accept-invitation", args=[token])


def send_pending() -> list:
    """Send every pending outbox row as the worker would; the messages sent."""
    before = len(mail.outbox)
    for pk in OutboundEmail.objects.filter(status="pending").values_list("pk", flat=True):
        send_outbound(pk)
    return mail.outbox[before:]


def link_in(message) -> str:
    """The path of the first link of the practice's public URL in a message."""
    url = re.search(r"https?://[^\s\"<>]+", message.body).group(0)
    return "/" + url.split("/", 3)[3]
