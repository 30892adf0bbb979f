"""The Team page (staff only): who is on the team, invite someone, and each
person's page: role, resend the invitation, deactivate (handing over their
coming sessions) and reactivate. A practitioner gets 403 on the list and on
their own page, 404 on anyone else's."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseLocation

from frontdesk import team as frontdesk_team
from frontdesk.team_forms import DeactivateForm, InviteForm, RoleForm
from opus import team
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.models import Invitation, TeamEvent, User

HISTORY_LINES = 20


def _require_staff(request) -> None:
    if not team.can_manage_team(request.user):
        raise PermissionDenied("Only staff manage the team.")


def team_members():
    """Everyone, with the expiry of their pending invitation (if any): one query."""
    pending = Invitation.objects.filter(
        user=OuterRef("pk"), used_at__isnull=True, replaced_at__isnull=True
    ).order_by("-created_at", "-pk")
    return User.objects.annotate(
        invitation_expires_at=Subquery(pending.values("expires_at")[:1])
    ).order_by("-is_active", "first_name", "last_name", "pk")


def _team_page(request, form=None, *, status=200):
    members = list(team_members())
    for member in members:
        member.status = team.status_of(member)
    context = {
        "section": "team",
        "members": members,
        "form": form or InviteForm(),
        "now": timezone.now(),
    }
    return render(
        request, page_or_fragment(request, "frontdesk/team.html", "members"), context, status=status
    )


@require_GET
def team_list(request):
    _require_staff(request)
    return _team_page(request)


@require_POST
def team_invite(request):
    _require_staff(request)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = team.invite_user(**form.cleaned_data, actor=request.user)
        except BusinessRuleError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Invitation sent to {invitation.user.email}.")
            return redirect("team:list")
    return _team_page(request, form)


# --- one person ------------------------------------------------------------------------------


def _member(request, user_id: int) -> User:
    """404 for anyone a practitioner may not see (everyone but themselves); 403 when
    they may see the person but not manage them."""
    people = (
        User.objects.all()
        if team.can_manage_team(request.user)
        else User.objects.filter(pk=request.user.pk)
    )
    member = get_object_or_404(people, pk=user_id)
    _require_staff(request)
    return member


def _member_context(request, member: User, **forms) -> dict:
    sessions = list(frontdesk_team.coming_sessions_led_by(member))
    return {
        "section": "team",
        "member": member,
        "status": team.status_of(member),
        "is_self": member.pk == request.user.pk,
        "sessions": sessions,
        "invitation": Invitation.objects.filter(
            user=member, used_at__isnull=True, replaced_at__isnull=True
        ).first(),
        "events": list(
            TeamEvent.objects.filter(user=member).select_related("actor")[:HISTORY_LINES]
        ),
        "role_form": forms.get("role_form") or RoleForm(initial={"role": member.role}),
        "deactivate_form": forms.get("deactivate_form")
        or DeactivateForm(member=member, needs_takeover=bool(sessions)),
        "action_error": forms.get("action_error", ""),
        "now": timezone.now(),
    }


def _render_member(request, member: User, *, status=200, **forms):
    template = page_or_fragment(request, "frontdesk/team_member.html", "member")
    return render(request, template, _member_context(request, member, **forms), status=status)


def _done(request, member: User, message: str):
    messages.success(request, message)
    url = reverse("team:member", args=[member.pk])
    if is_fragment_request(request):
        return HttpResponseLocation(url, target="#member", swap="outerHTML")
    return redirect(url)


@require_GET
def member_detail(request, user_id: int):
    return _render_member(request, _member(request, user_id))


@require_POST
def member_role(request, user_id: int):
    member = _member(request, user_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            changed = team.change_role(
                user=member, role=form.cleaned_data["role"], actor=request.user
            )
        except BusinessRuleError as error:
            form.add_error("role", error.message)
        else:
            member.refresh_from_db()
            return _done(
                request,
                member,
                f"{member.display_name} is now {member.get_role_display().lower()}."
                if changed
                else "Nothing changed.",
            )
    return _render_member(request, member, role_form=form)


@require_POST
def member_deactivate(request, user_id: int):
    member = _member(request, user_id)
    needs_takeover = frontdesk_team.coming_sessions_led_by(member).exists()
    form = DeactivateForm(request.POST, member=member, needs_takeover=needs_takeover)
    if form.is_valid():
        try:
            handed = frontdesk_team.deactivate_team_member(
                user=member, takeover=form.cleaned_data["takeover"], actor=request.user
            )
        except BusinessRuleError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            message = f"{member.display_name} is deactivated and logged out everywhere."
            if handed:
                taker = handed[0].practitioner.display_name
                plural = "s" if len(handed) != 1 else ""
                message += f" {len(handed)} coming session{plural} handed over to {taker}."
            return _done(request, member, message)
    return _render_member(request, member, deactivate_form=form)


@require_POST
def member_reactivate(request, user_id: int):
    member = _member(request, user_id)
    try:
        team.reactivate_user(user=member, actor=request.user)
    except BusinessRuleError as error:
        return _render_member(request, member, action_error=error.message)
    return _done(request, member, f"{member.display_name} is active again.")


@require_POST
def member_resend(request, user_id: int):
    member = _member(request, user_id)
    try:
        team.resend_invitation(user=member, actor=request.user)
    except BusinessRuleError as error:
        return _render_member(request, member, action_error=error.message)
    return _done(
        request,
        member,
        f"A new invitation is on its way to {member.email}; the old link no longer works.",
    )
