"""The cancellation policy: a service's own, each part it leaves empty taken from
the practice's default (Practice settings). One place reads the two together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from opus import practice as practice_settings
from opus.models import MAKEUP_WEEKS_RANGE, NOTICE_HOURS_RANGE

NOTICE_HOURS_MAX = NOTICE_HOURS_RANGE[1]
__all__ = ["MAKEUP_WEEKS_RANGE", "NOTICE_HOURS_MAX", "Policy", "policy_for"]


@dataclass(frozen=True)
class Policy:
    notice_hours: int
    charge_late_cancellations: bool
    charge_no_shows: bool
    makeup_credits: bool
    makeup_weeks: int

    def in_time(self, *, starts_at: datetime, at: datetime) -> bool:
        """Whether a cancellation at ``at`` is in time for a date starting at ``starts_at``."""
        return starts_at - at >= timedelta(hours=self.notice_hours)

    def chargeable(self, mark: str) -> bool:
        """Whether the billing run bills a date so marked."""
        if mark == "present":
            return True
        if mark == "late_cancelled":
            return self.charge_late_cancellations
        if mark == "no_show":
            return self.charge_no_shows
        return False

    @property
    def summary(self) -> str:
        parts = [f"in time {self.notice_hours} h ahead"]
        charged = [
            name
            for name, on in (
                ("late cancellations", self.charge_late_cancellations),
                ("no-shows", self.charge_no_shows),
            )
            if on
        ]
        parts.append(f"charged: {' and '.join(charged)}" if charged else "nothing charged")
        if self.makeup_credits:
            parts.append(f"make-up credit for {self.makeup_weeks} weeks")
        return "; ".join(parts)


POLICY_FIELDS = (
    "cancel_notice_hours",
    "charge_late_cancellations",
    "charge_no_shows",
    "makeup_credits",
    "makeup_weeks",
)


def policy_for(service) -> Policy:
    """The service's cancellation policy, the practice's default where it sets none."""
    practice = practice_settings.current()

    def pick(name):
        own = getattr(service, name, None) if service is not None else None
        return getattr(practice, name) if own is None else own

    return Policy(
        notice_hours=pick("cancel_notice_hours"),
        charge_late_cancellations=pick("charge_late_cancellations"),
        charge_no_shows=pick("charge_no_shows"),
        makeup_credits=pick("makeup_credits"),
        makeup_weeks=pick("makeup_weeks"),
    )
