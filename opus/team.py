"""The team: staff invite people, change their role, deactivate and reactivate them.

A new person is created active with an unusable password and an invitation: a
single-use, expiring link (opus/lib/tokens.py: hashed at rest) to set their
password, sent through the outbox. Until they accept it they cannot log in, nor
reset a password they do not have.

Deactivating ends every session of the person at once: Django's authentication
backend refuses an inactive user on their next request. Handing over the
sessions a practitioner leads is the front desk's part (frontdesk/team.py),
which knows the schedule; this module knows only people.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opus.lib.actors import SYSTEM, person, require_actor
from opus.lib.errors import BusinessRuleError
from opus.lib.tokens import derive_token, hash_token, looks_like_token, new_nonce, token_for
from opus.models import Invitation, TeamEvent, User
from opus.services import queue_email

INVITATION_SALT = "opus.team.invitation-link"
INVITATION_EMAIL = "invitation"
NAME_MAX = 150


class InvitationGone(BusinessRuleError):
    """The link was used, replaced by a newer one, expired, or its person left."""

    def __init__(self, invitation: Invitation, state: str):
        super().__init__("This invitation link no longer works.")
        self.invitation = invitation
        self.state = state


def can_manage_team(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_practice_staff)


def status_of(user: User) -> str:
    """active, invited (no password set yet) or deactivated."""
    if not user.is_active:
        return "deactivated"
    if not user.has_usable_password():
        return "invited"
    return "active"


def record_team_event(*, user: User, kind: str, summary: str, actor) -> TeamEvent:
    """A line of the team's history; the caller checked the actor."""
    return TeamEvent.objects.create(
        user=user, kind=kind, summary=summary[:300], actor=person(actor)
    )


def _require_staff(actor) -> None:
    require_actor(actor)
    if not can_manage_team(actor):
        raise PermissionDenied("Only staff manage the team.")


def _locked(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def _lock_staff_then(user: User, actor) -> tuple[User, bool]:
    """Lock the active staff rows (in a stable order) before ``user``'s row, and say
    whether an active staff user besides ``user`` remains. Every change that could
    leave the practice without staff takes the staff rows first, so two staff
    removing each other at once queue instead of deadlocking, and the second sees
    the first's change: an actor no longer among the active staff is refused."""
    staff = list(
        User.objects.select_for_update()
        .filter(Q(role=User.Role.STAFF) | Q(is_superuser=True), is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if actor is not SYSTEM and actor.pk not in staff:
        raise PermissionDenied("Only staff manage the team.")
    return _locked(user), any(pk != user.pk for pk in staff)


def invitation_token(invitation: Invitation) -> str | None:
    return token_for(INVITATION_SALT, invitation)


def _send_invitation(user: User, actor) -> Invitation:
    now = timezone.now()
    Invitation.objects.filter(user=user, used_at__isnull=True, replaced_at__isnull=True).update(
        replaced_at=now
    )
    nonce = new_nonce()
    invitation = Invitation.objects.create(
        user=user,
        nonce=nonce,
        token_hash=hash_token(derive_token(INVITATION_SALT, nonce)),
        created_by=person(actor),
        created_at=now,
        expires_at=now + settings.OPUS_INVITATION_TTL,
    )
    queue_email(template=INVITATION_EMAIL, to=user.email, context={"invitation_id": invitation.pk})
    return invitation


def _clean_name(value: str, *, field: str, label: str) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise BusinessRuleError(f"Enter the {label}.", field=field)
    if len(value) > NAME_MAX:
        raise BusinessRuleError(f"The {label} is too long.", field=field)
    return value


def _clean_role(role: str) -> str:
    if role not in User.Role.values:
        raise BusinessRuleError("Choose staff or practitioner.", field="role")
    return role


def invite_user(*, first_name: str, last_name: str, email: str, role: str, actor) -> Invitation:
    """Create the person (they log in with their email address) and email them an
    invitation. An address already on the team is refused: a double submit
    invites once."""
    _require_staff(actor)
    first_name = _clean_name(first_name, field="first_name", label="first name")
    last_name = _clean_name(last_name, field="last_name", label="last name")
    email = (email or "").strip().lower()
    if not email or "@" not in email or len(email) > 150:
        raise BusinessRuleError("Enter a valid email address.", field="email")
    role = _clean_role(role)
    taken = BusinessRuleError("Someone on the team already uses this email address.", field="email")
    try:
        with transaction.atomic():
            if User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).exists():
                raise taken
            user = User(
                username=email, email=email, first_name=first_name, last_name=last_name, role=role
            )
            user.set_unusable_password()
            user.save()
            invitation = _send_invitation(user, actor)
            record_team_event(
                user=user,
                kind=TeamEvent.Kind.INVITED,
                summary=f"Invited as {user.get_role_display().lower()}",
                actor=actor,
            )
    except IntegrityError as error:  # the same address invited at the same moment
        raise taken from error
    return invitation


@transaction.atomic
def resend_invitation(*, user: User, actor) -> Invitation:
    """A new link; the old one stops working."""
    _require_staff(actor)
    user = _locked(user)
    if status_of(user) != "invited":
        raise BusinessRuleError(f"{user.display_name} has already joined or is deactivated.")
    invitation = _send_invitation(user, actor)
    record_team_event(
        user=user,
        kind=TeamEvent.Kind.INVITATION_RESENT,
        summary="Invitation sent again",
        actor=actor,
    )
    return invitation


@transaction.atomic
def change_role(*, user: User, role: str, actor) -> bool:
    """Returns whether anything changed."""
    _require_staff(actor)
    role = _clean_role(role)
    user, other_staff = _lock_staff_then(user, actor)
    if user.role == role:
        return False
    if user.pk == getattr(actor, "pk", None):
        raise BusinessRuleError("You cannot change your own role.", field="role")
    if user.role == User.Role.STAFF and user.is_active and not other_staff:
        raise BusinessRuleError(
            f"{user.display_name} is the last active staff member.", field="role"
        )
    before = user.get_role_display()
    user.role = role
    user.save(update_fields=["role"])
    record_team_event(
        user=user,
        kind=TeamEvent.Kind.ROLE_CHANGED,
        summary=f"Role changed from {before.lower()} to {user.get_role_display().lower()}",
        actor=actor,
    )
    return True


def check_can_deactivate(*, user: User, actor) -> None:
    """The refusals of deactivating that need no lock."""
    _require_staff(actor)
    if user.pk == getattr(actor, "pk", None):
        raise BusinessRuleError("You cannot deactivate yourself.")


@transaction.atomic
def deactivate_user(*, user: User, actor) -> bool:
    """Deactivate: refused for oneself and for the last active staff member. Their
    sessions end at once (an inactive user is refused on their next request) and
    a pending invitation stops working. Returns whether anything changed."""
    _require_staff(actor)
    check_can_deactivate(user=user, actor=actor)
    user, other_staff = _lock_staff_then(user, actor)
    if not user.is_active:
        return False
    if user.is_practice_staff and not other_staff:
        raise BusinessRuleError(f"{user.display_name} is the last active staff member.")
    user.is_active = False
    user.save(update_fields=["is_active"])
    Invitation.objects.filter(user=user, used_at__isnull=True, replaced_at__isnull=True).update(
        replaced_at=timezone.now()
    )
    record_team_event(
        user=user, kind=TeamEvent.Kind.DEACTIVATED, summary="Deactivated", actor=actor
    )
    return True


@transaction.atomic
def reactivate_user(*, user: User, actor) -> bool:
    """They log in again with their password (someone who never joined needs a new
    invitation: "Resend invitation")."""
    _require_staff(actor)
    user = _locked(user)
    if user.is_active:
        return False
    user.is_active = True
    user.save(update_fields=["is_active"])
    record_team_event(
        user=user, kind=TeamEvent.Kind.REACTIVATED, summary="Reactivated", actor=actor
    )
    return True


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link token belongs to, whatever its state; None if unknown."""
    if not looks_like_token(token):
        return None
    return Invitation.objects.select_related("user").filter(token_hash=hash_token(token)).first()


def invitation_state(invitation: Invitation, now) -> str:
    state = invitation.state_at(now)
    if state == "live" and not invitation.user.is_active:
        return "withdrawn"
    return state


def accept_invitation(*, token: str, password: str) -> User:
    """The invited person sets their password through the link (the link is the
    authority: no actor). The invitation row is locked, so of two submissions one
    sets the password and the other finds the link used. The password was checked
    by the form (Django's validators)."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if invitation is None:
            raise BusinessRuleError("This link is not valid.")
        now = timezone.now()
        state = invitation_state(invitation, now)
        if state != "live":
            raise InvitationGone(invitation, state)
        user = _locked(invitation.user)
        user.set_password(password)
        user.save(update_fields=["password"])
        invitation.used_at = now
        invitation.save(update_fields=["used_at"])
        record_team_event(
            user=user, kind=TeamEvent.Kind.JOINED, summary="Set a password and joined", actor=user
        )
    return user


# --- the invitation email (an outbox kind, registered in OpusConfig.ready) ------------------


def invitation_email_context(row) -> dict | None:
    """The outbox row holds the invitation's id; the link is re-derived here. None
    (nothing to send) once the invitation was used, replaced or expired."""
    pk = (row.context or {}).get("invitation_id")
    if not isinstance(pk, int):
        return None
    invitation = Invitation.objects.select_related("user", "created_by").filter(pk=pk).first()
    if invitation is None or invitation_state(invitation, timezone.now()) != "live":
        return None
    token = invitation_token(invitation)
    if token is None:
        return None
    user = invitation.user
    return {
        "first_name": user.first_name,
        "username": user.username,
        "role": user.get_role_display().lower(),
        "inviter": invitation.created_by.display_name if invitation.created_by else "",
        "link": settings.OPUS_PUBLIC_URL.rstrip("/") + reverse("accept-invitation", args=[token]),
        "expires_at": invitation.expires_at,
    }
