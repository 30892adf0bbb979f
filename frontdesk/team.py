"""Deactivating a person who leads coming sessions: the sessions go to another
practitioner in the same step (one form: "Who takes over their sessions?"), each
handed over with a history row on both people, then the person is deactivated
(opus/team.py). The people themselves are the foundation's; the schedule is
known here."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from opus import team
from opus.lib.actors import require_actor
from opus.lib.errors import BusinessRuleError
from opus.models import TeamEvent, User
from scheduling.models import Session, SessionDate


def coming_sessions_led_by(user: User) -> QuerySet[Session]:
    """Sessions the person leads that still have a date to come (not cancelled)."""
    coming = SessionDate.objects.filter(
        session=OuterRef("pk"), starts_at__gte=timezone.now(), cancelled=False
    )
    return (
        Session.objects.filter(practitioner=user)
        .filter(Exists(coming))
        .select_related("service", "room")
        .order_by("weekday", "start_time", "pk")
    )


def takeover_choices(user: User) -> QuerySet[User]:
    """Who may take over: the other active practitioners."""
    return User.objects.filter(is_active=True, role=User.Role.PRACTITIONER).exclude(pk=user.pk)


@transaction.atomic
def deactivate_team_member(*, user: User, actor, takeover: User | None = None) -> list[Session]:
    """Hand the person's coming sessions to ``takeover`` (required when there are
    any), then deactivate them. Returns the sessions handed over."""
    require_actor(actor)
    if not team.can_manage_team(actor):
        raise PermissionDenied("Only staff manage the team.")
    team.check_can_deactivate(user=user, actor=actor)
    if not User.objects.select_for_update().get(pk=user.pk).is_active:
        return []  # already deactivated: a second submit changes nothing
    sessions = list(coming_sessions_led_by(user).select_for_update(of=("self",)))
    if sessions:
        if takeover is None:
            count = len(sessions)
            raise BusinessRuleError(
                f"{user.display_name} leads {count} coming session{'s' if count != 1 else ''}: "
                "choose who takes them over.",
                field="takeover",
            )
        new = takeover_choices(user).select_for_update().filter(pk=takeover.pk).first()
        if new is None:
            raise BusinessRuleError(
                "Choose an active practitioner to take the sessions over.", field="takeover"
            )
        for session in sessions:
            session.practitioner = new
            session.save(update_fields=["practitioner"])
            team.record_team_event(
                user=user,
                kind=TeamEvent.Kind.SESSION_HANDED_OVER,
                summary=f"{session} (session #{session.pk}) handed over to {new.display_name}",
                actor=actor,
            )
            team.record_team_event(
                user=new,
                kind=TeamEvent.Kind.SESSION_HANDED_OVER,
                summary=f"{session} (session #{session.pk}) taken over from {user.display_name}",
                actor=actor,
            )
    team.deactivate_user(user=user, actor=actor)
    return sessions
