"""Who may read the reports: staff only (they show every practitioner's money)."""

from __future__ import annotations


def can_view_reports(user) -> bool:
    return bool(
        user is not None and user.is_authenticated and user.is_active and user.is_practice_staff
    )
