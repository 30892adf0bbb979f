"""Two-factor authentication: whether the practice requires it, and the gate that
sends a user who must have it, and has not, to set it up.

The login's second step and the setup pages are in ``opus.two_factor`` and
``opus.two_factor_views``; this module is what the middleware needs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device

from opus import practice


def staff_2fa_required() -> bool:
    """Whether the practice requires two-factor authentication of its team: staff
    turn it on in "Practice settings"; a deployment may force it on with
    OPUS_STAFF_2FA_REQUIRED. Costs no query most of the time (``practice.current``
    keeps the row for a few seconds)."""
    return bool(settings.OPUS_STAFF_2FA_REQUIRED) or practice.current().require_two_factor


def requires_two_factor(user) -> bool:
    """Whether ``user`` must have two-factor authentication: everyone who logs in
    (staff, practitioners, superusers: all see client data), when the practice
    requires it."""
    return user.is_authenticated and user.is_active and staff_2fa_required()


def session_verified(request) -> bool:
    """Whether this session passed a second factor (the code at login, or the
    confirming code when the device was set up)."""
    return bool(request.session.get(DEVICE_ID_SESSION_KEY))


# What a user who must set up two-factor authentication may still reach.
SETUP_ROUTES = frozenset({"two-factor", "two-factor-backup-codes", "logout"})


class TwoFactorRequiredMiddleware:
    """When the practice requires two-factor authentication, a logged-in user whose
    session has not passed a second factor reaches nothing but the setup pages
    (and log out): without a device they are sent to set one up; with one (a
    session from before the requirement, or a login that skipped the code) the
    session ends and they log in again, with the code.

    Costs no query while the requirement is off or once the session is verified."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not requires_two_factor(user) or session_verified(request):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in SETUP_ROUTES:
            return None
        if user_has_device(user):
            logout(request)
            target = settings.LOGIN_URL
        else:
            target = "two-factor"
        if request.headers.get("HX-Request") == "true":
            return HttpResponseClientRedirect(redirect(target)["Location"])
        return redirect(target)
