"""Who may do what in the schedule. Visibility (what a user may see at all) lives
in the querysets' ``visible_to``; these say what a user who sees it may change."""

from opus.lib.actors import require_actor


def can_enroll(user, session) -> bool:
    """Staff, and the practitioner who leads the session."""
    require_actor(user)
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_practice_staff or session.practitioner_id == user.pk


def can_unenroll(user, session_date) -> bool:
    """Staff, and the practitioner who leads the session."""
    require_actor(user)
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_practice_staff or session_date.session.practitioner_id == user.pk


def can_transfer(user) -> bool:
    """Moving a client to another session (the front desk's transfer) ends a
    subscription and bills the payer: staff only."""
    require_actor(user)
    return user.is_authenticated and user.is_active and user.is_practice_staff


def can_set_up(user) -> bool:
    """Services, rooms and sessions (the practice's setup): staff only."""
    require_actor(user)
    return user.is_authenticated and user.is_active and user.is_practice_staff


def can_close(user) -> bool:
    """Cancelling dates (one, or a closure across the practice, a room or a
    practitioner) and undoing it: the practice's business, staff only."""
    require_actor(user)
    return user.is_authenticated and user.is_active and user.is_practice_staff


def can_mark_attendance(user, session_date) -> bool:
    """Staff, and the practitioner who leads the session."""
    require_actor(user)
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_practice_staff or session_date.session.practitioner_id == user.pk
