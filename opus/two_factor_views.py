"""Two-factor authentication pages: set it up from the account menu (scan, confirm
with a code, note the backup codes), and the login's second step (the code after
the password), locked out by django-axes like the password."""

from __future__ import annotations

import time

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django import forms
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from opus import two_factor
from opus.lib.errors import BusinessRuleError
from opus.lib.security import staff_2fa_required
from opus.models import User

SETUP_KEY = "_opus_2fa_setup_key"  # the secret being set up (wizard state)
CODES_KEY = "_opus_2fa_codes"  # new backup codes, shown once
PENDING_KEY = "_opus_2fa_pending"  # a password accepted, the code still to come
PENDING_SECONDS = 300


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        error_messages={"required": "Type the 6-digit code from your authenticator app."},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "autofocus": True}
        ),
    )


# --- setup (logged in) ---------------------------------------------------------------


@never_cache
def setup(request):
    """Two-factor authentication: on (what is left, new backup codes, turn off) or
    off (scan the QR code, confirm with a code)."""
    user = request.user
    if two_factor.has_two_factor(user):
        if request.method == "POST":  # the confirming form, submitted again
            return redirect("two-factor")
        return render(
            request,
            "registration/two_factor.html",
            {
                "enabled": True,
                "codes_left": two_factor.backup_codes_left(user),
                "required": staff_2fa_required(),
            },
        )
    key = request.session.get(SETUP_KEY)
    if not key:
        key = request.session[SETUP_KEY] = two_factor.new_secret()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = two_factor.confirm_two_factor(
                user=user, key=key, code=form.cleaned_data["code"], actor=user
            )
        except BusinessRuleError as error:
            if error.field is None:  # already on: a second submit
                return redirect("two-factor")
            form.add_error(error.field, error.message)
        else:
            otp_login(request, device)  # this session passed the second factor
            request.session.pop(SETUP_KEY, None)
            request.session[CODES_KEY] = codes
            messages.success(request, "Two-factor authentication is on.")
            return redirect("two-factor-backup-codes")
    uri = two_factor.setup_uri(user, key)
    return render(
        request,
        "registration/two_factor.html",
        {
            "enabled": False,
            "form": form,
            "qr_svg": two_factor.qr_svg(uri),
            "secret": two_factor.secret_for_typing(key),
            "required": staff_2fa_required(),
        },
    )


@never_cache
def backup_codes(request):
    """GET: the new backup codes, once (gone on reload). POST: new codes, the old
    ones stop working."""
    if request.method == "POST":
        try:
            codes = two_factor.regenerate_backup_codes(user=request.user, actor=request.user)
        except BusinessRuleError as error:
            messages.error(request, error.message)
            return redirect("two-factor")
        request.session[CODES_KEY] = codes
        return redirect("two-factor-backup-codes")
    codes = request.session.pop(CODES_KEY, None)
    if not codes:
        return redirect("two-factor")
    return render(request, "registration/two_factor_backup_codes.html", {"codes": codes})


@require_POST
def turn_off(request):
    try:
        two_factor.turn_off_two_factor(user=request.user, actor=request.user)
    except BusinessRuleError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Two-factor authentication is off.")
    return redirect("two-factor")


# --- the login's second step -----------------------------------------------------------


def start_second_step(request, user, backend: str, next_url: str):
    """The password was right and ``user`` has two-factor authentication: remember
    that (for a few minutes, in a new session key) and ask for the code. Nobody is
    logged in until the code is right."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": backend,
        "next": next_url,
        "at": time.time(),
    }
    return redirect("login-code")


def _pending(request):
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None, None
    user = User.objects.filter(pk=pending.get("user"), is_active=True).first()
    return pending, user


@login_not_required
@never_cache
def login_code(request):
    pending, user = _pending(request)
    if user is None:
        if request.method == "POST":
            messages.error(request, "The code was not typed in time: log in again.")
        return redirect("login")
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        request.session.pop(PENDING_KEY, None)
        return get_lockout_response(request, None, credentials)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify_login_code(user=user, code=form.cleaned_data["code"])
        if device is not None:
            request.session.pop(PENDING_KEY, None)
            auth_login(request, user, backend=pending["backend"])
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                messages.warning(
                    request,
                    f"You used a backup code: {two_factor.backup_codes_left(user)} left.",
                )
            return redirect(pending["next"])
        # counted with the password's failures: the same lockout (django-axes)
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            request.session.pop(PENDING_KEY, None)
        form.add_error("code", two_factor.WRONG_CODE)
    return render(request, "registration/login_code.html", {"form": form})
