"""Date rules shared by the workflows."""

from datetime import date, timedelta

from opus.lib.errors import BusinessRuleError


def refuse_too_far_back(day: date, *, days: int, today: date, what: str, field: str) -> None:
    """Refuse ``day`` when it is more than ``days`` days before ``today`` (a
    practice's backdating allowance), saying the earliest date allowed."""
    earliest = today - timedelta(days=days)
    if day < earliest:
        raise BusinessRuleError(
            f"{what} can be at most {days} days in the past (no earlier than "
            f"{earliest:%-d %b %Y}).",
            field=field,
        )
