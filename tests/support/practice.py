"""The practice settings in tests."""

from opus import practice as practices
from opus.models import Practice


def assume_practice(**fields) -> Practice:
    """The practice as the environment gives it, with ``fields`` changed, held in
    the process's cache without touching the database (tests that need no db)."""
    practice = practices.from_settings()
    for name, value in fields.items():
        setattr(practice, name, value)
    practices.forget(assume=practice)
    return practice


def settings_form(practice: Practice | None = None, **changes) -> dict:
    """What the "Practice settings" form posts: every field as it stands, with
    ``changes``."""
    practice = practice or practices.saved()
    data = {name: getattr(practice, name) for name in practices.FIELDS}
    data.update(changes)
    return {name: "" if value is None else value for name, value in data.items()}
