def can_edit_client(user, client) -> bool:
    """Contact details are kept by staff; practitioners read them."""
    return user.is_authenticated and user.is_practice_staff
