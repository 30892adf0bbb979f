""" "Forgot password?": Django's password reset, in the product's look, through the outbox.

- The same answer for every address typed, known or not, limited or not.
- Limited per typed address and per account (OPUS_PASSWORD_RESET_LIMITS): over
  the limit, no email is queued, and the answer does not change.
- The outbox row holds only the user's id; the worker makes the link when it
  sends, so no token is at rest. Django's token works once: it changes when the
  password does, and lives PASSWORD_RESET_TIMEOUT.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from opus.lib import ratelimit
from opus.lib.actors import SYSTEM
from opus.models import TeamEvent, User
from opus.services import queue_email
from opus.team import record_team_event

PASSWORD_RESET_EMAIL = "password_reset"  # noqa: S105 (an email kind, not a password)
ADDRESS_SCOPE = "password-reset-address"
ACCOUNT_SCOPE = "password-reset-account"


class ResetRequestForm(auth_forms.PasswordResetForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].label = "Your email address"
        self.fields["email"].error_messages["required"] = "Enter your email address."
        self.fields["email"].error_messages["invalid"] = "Enter a valid email address."

    def save(self, *args, **kwargs):
        limit, window = settings.OPUS_PASSWORD_RESET_LIMITS
        address = self.cleaned_data["email"].strip().lower()
        if ratelimit.record_failure(ADDRESS_SCOPE, address, window=window) > limit:
            return  # the same answer: the page never says whether anything was sent
        with transaction.atomic():
            super().save(*args, **kwargs)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """Queued in the outbox instead of sent here; the row names the user only."""
        user = context["user"]
        limit, window = settings.OPUS_PASSWORD_RESET_LIMITS
        if ratelimit.record_failure(ACCOUNT_SCOPE, str(user.pk), window=window) > limit:
            return
        queue_email(template=PASSWORD_RESET_EMAIL, to=to_email, context={"user_id": user.pk})


class ResetPasswordForm(auth_forms.SetPasswordForm):
    """Django's form; the history row says the password was reset by email."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            record_team_event(
                user=user,
                kind=TeamEvent.Kind.PASSWORD_RESET,
                summary="Password reset through the emailed link",
                actor=SYSTEM,
            )
        return user


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ResetRequestForm
    template_name = "registration/password_reset_form.html"
    success_url = reverse_lazy("password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A GET moves the token from the address into the session and redirects (so
    the page's address holds no token); the token is spent when the password
    changes."""

    form_class = ResetPasswordForm
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


def password_reset_email_context(row) -> dict | None:
    """The link is made when the email is sent: nothing to send for someone who
    has left or has no password to reset."""
    pk = (row.context or {}).get("user_id")
    if not isinstance(pk, int):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not user.has_usable_password():
        return None
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return {
        "first_name": user.first_name or user.username,
        "username": user.username,
        "link": settings.OPUS_PUBLIC_URL.rstrip("/") + path,
        "expires_at": timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
    }
