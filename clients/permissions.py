from opus.lib.actors import require_actor


def can_edit_client(user, client) -> bool:
    """Contact details are kept by staff; practitioners read them."""
    require_actor(user)
    return user.is_authenticated and user.is_practice_staff


# What a practitioner may add when a migration asks for missing details: the ways to
# reach the attendee, which they may have to ask for themselves. The date of birth
# (it decides the under-16 rule) and the postal address (it goes on invoices) are
# staff's to enter, as are changes to any detail already on file.
PRACTITIONER_MAY_ADD = ("email", "phone")


def details_user_may_add(user, missing) -> list[str]:
    """Of the ``missing`` details of a client, those ``user`` may fill in."""
    require_actor(user)
    if user.is_authenticated and user.is_practice_staff:
        return list(missing)
    return [name for name in missing if name in PRACTITIONER_MAY_ADD]
