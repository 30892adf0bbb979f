"""The invitation link: the invited person sets a password. Held to the card link's
discipline (billing/views.py card_link): GET and HEAD change nothing (mail scanners
open links), only a successful POST spends the token, 410 once it is used, replaced
or expired, 404 for an unknown token and 429 for an address that keeps guessing."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import SetPasswordForm
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from opus import team
from opus.lib import ratelimit
from opus.lib.clientip import client_ip

IP_SCOPE = "invitation-link-ip"


def _link_response(request, template: str, context: dict, *, status: int = 200):
    response = render(request, template, {"dev_hide_nav": True, **context}, status=status)
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# Not CSRF-checked, as the card link: the unguessable token in the path is the
# secret a CSRF token stands in for, and Referrer-Policy: no-referrer makes
# browsers post with "Origin: null", which Django's origin check refuses.
@csrf_exempt
@login_not_required
@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_variables("form")
def accept_invitation(request, token: str):
    limit, window = settings.OPUS_INVITATION_LINK_LIMITS
    invitation = team.invitation_for_token(token)
    if invitation is None:
        guesses = ratelimit.record_failure(IP_SCOPE, client_ip(request) or "", window=window)
        if guesses > limit:
            return _link_response(request, "registration/invitation_limited.html", {}, status=429)
        return _link_response(request, "registration/invitation_unknown.html", {}, status=404)
    state = team.invitation_state(invitation, timezone.now())
    if state != "live":
        return _gone(request, state)
    form = SetPasswordForm(invitation.user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = team.accept_invitation(token=token, password=form.cleaned_data["new_password1"])
        except team.InvitationGone as gone:
            return _gone(request, gone.state)
        return _link_response(request, "registration/invitation_done.html", {"member": user})
    return _link_response(
        request,
        "registration/invitation.html",
        {"form": form, "member": invitation.user, "invitation": invitation},
    )


def _gone(request, state: str):
    return _link_response(
        request,
        "registration/invitation_gone.html",
        {"state": state, "ttl_days": settings.OPUS_INVITATION_TTL.days},
        status=410,
    )
