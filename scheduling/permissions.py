"""Who may do what in the schedule. Visibility (what a user may see at all) lives
in the querysets' ``visible_to``; these say what a user who sees it may change."""


def can_unenroll(user, session_date) -> bool:
    """Staff, and the practitioner who leads the session."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_practice_staff or session_date.session.practitioner_id == user.pk


def can_transfer(user) -> bool:
    """Transfers are a front-desk job: they end a subscription and bill the payer."""
    return user.is_authenticated and user.is_practice_staff
