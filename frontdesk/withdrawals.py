"""Withdrawal: a subscription ended by the client's choice, with a reason. The
client attends up to the last date; the subscription's end date (the first date
no longer attended) becomes the session's next date after it. What it leaves
paid and unused is the transfer's answer (``billing.rebilling.unused_value``),
shown before the click; giving it back is staff's, by hand, until the money loop
exists. A transfer is never a withdrawal: it ends subscriptions on its own path."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from billing.rebilling import Unused, sessions_text, unused_value
from clients.models import ClientEvent
from clients.services import record_event
from frontdesk.models import Transfer, Withdrawal
from opus.lib.actors import person
from opus.lib.dates import refuse_too_far_back
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money
from opus.services import queue_email
from scheduling.models import DateAbsence, SessionDate, Subscription
from scheduling.permissions import can_enroll
from scheduling.selectors import dates_text

WITHDRAWAL_EMAIL = "withdrawal"
NOTE_MAX_LENGTH = 1000


@dataclass(frozen=True)
class WithdrawalPlan:
    """What withdrawing after ``last_date`` means: the new end date, and what it
    leaves paid and unused (the amount, and the dates it paid for)."""

    subscription: Subscription
    last_date: date
    end_date: date
    unused: Unused
    unused_dates: list[date]

    @property
    def preview(self) -> list[str]:
        return self.sentences(done=False)

    def sentences(self, *, done: bool) -> list[str]:
        payer = self.subscription.relationship.payer.full_name
        unused = self.unused
        if unused.value <= 0:
            return [f"Nothing {payer} paid is left unused after the last date."]
        covers = f" ({dates_text(self.unused_dates)})" if self.unused_dates else ""
        verb = "is" if done else "will be"
        return [
            f"{format_money(unused.value, unused.currency)} paid by {payer} {verb} left unused: "
            f"{sessions_text(unused.sessions)}{covers}.",
            "It is to be refunded or credited by staff: Opus does not move that money yet.",
        ]


def end_date_after(subscription: Subscription, last_date: date) -> date:
    """The first date no longer attended: the session's next date after the last
    one attended, or the day after it when none is generated."""
    later = (
        SessionDate.objects.filter(session_id=subscription.session_id, date__gt=last_date)
        .order_by("date")
        .values_list("date", flat=True)
        .first()
    )
    return later or last_date + timedelta(days=1)


def _unused_dates(subscription: Subscription, end_date: date, count) -> list[date]:
    """The held dates from ``end_date`` that the unused sessions paid for: the first
    ``count`` of them (paid sessions are used up in date order)."""
    wanted = math.ceil(count)
    if wanted <= 0:
        return []
    dates = (
        SessionDate.objects.filter(
            session_id=subscription.session_id, date__gte=end_date, cancelled=False
        )
        .exclude(absences__subscription_id=subscription.pk)
        .order_by("date")
    )
    if subscription.end_date is not None:
        dates = dates.filter(date__lt=subscription.end_date)
    return list(dates.values_list("date", flat=True)[:wanted])


def _check(subscription: Subscription, last_date: date, *, today: date) -> date:
    """Every refusal of a withdrawal, in words; returns the new end date."""
    client = subscription.client
    if Transfer.objects.filter(from_subscription_id=subscription.pk).exists():
        raise BusinessRuleError(
            f"This subscription was transferred: {client.first_name} left it by the transfer, "
            "not by a withdrawal."
        )
    if subscription.end_date is not None and subscription.end_date <= today:
        raise BusinessRuleError(
            f"This subscription has already ended ({subscription.end_date:%-d %b %Y} was the "
            "first date no longer attended): there is nothing to withdraw from."
        )
    if last_date < subscription.first_date:
        raise BusinessRuleError(
            f"The last date cannot be before the subscription's first date "
            f"({subscription.first_date:%a %-d %b %Y}).",
            field="last_date",
        )
    refuse_too_far_back(
        last_date,
        days=settings.OPUS_ENROL_BACKDATE_DAYS,
        today=today,
        what="The last date",
        field="last_date",
    )
    end_date = end_date_after(subscription, last_date)
    if subscription.end_date is not None and end_date >= subscription.end_date:
        raise BusinessRuleError(
            f"This subscription already ends before then: its last date is before "
            f"{subscription.end_date:%-d %b %Y}.",
            field="last_date",
        )
    return end_date


def plan_withdrawal(*, subscription: Subscription, last_date: date) -> WithdrawalPlan:
    """What the withdrawal would do, reading only: the preview and the withdrawal
    itself make the same plan. Raises BusinessRuleError for a refusal."""
    end_date = _check(subscription, last_date, today=timezone.localdate())
    unused = unused_value(subscription, end_date)
    return WithdrawalPlan(
        subscription=subscription,
        last_date=last_date,
        end_date=end_date,
        unused=unused,
        unused_dates=_unused_dates(subscription, end_date, unused.sessions),
    )


@dataclass(frozen=True)
class Withdrawn:
    withdrawal: Withdrawal
    plan: WithdrawalPlan | None
    replayed: bool = False


def withdraw_subscription(
    *,
    subscription: Subscription,
    last_date: date,
    reason: str,
    actor,
    note: str = "",
    email_payer: bool = False,
) -> Withdrawn:
    """End the subscription after ``last_date`` by the client's choice, record why,
    and (if asked) email the payer through the outbox; together or not at all.
    Withdrawing again (a double click) returns the first withdrawal."""
    if not can_enroll(actor, subscription.session) or not (
        Subscription.objects.visible_to(actor).filter(pk=subscription.pk).exists()
    ):
        raise PermissionDenied("Only staff or the session's practitioner can withdraw a client.")
    if reason not in Withdrawal.Reason.values:
        raise BusinessRuleError("Choose the reason for the withdrawal.", field="reason")
    note = note.strip()[:NOTE_MAX_LENGTH]
    if reason == Withdrawal.Reason.OTHER and not note:
        raise BusinessRuleError("Say why, in a note, when the reason is Other.", field="note")
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("client", "session__service", "relationship__payer")
            .get(pk=subscription.pk)
        )
        done = Withdrawal.objects.filter(subscription=subscription).first()
        if done is not None:
            return Withdrawn(done, None, replayed=True)
        plan = plan_withdrawal(subscription=subscription, last_date=last_date)
        payer = subscription.relationship.payer
        if email_payer and not payer.email:
            raise BusinessRuleError(
                f"{payer.full_name} has no email address: add one on their profile, or "
                "withdraw without the email.",
                field="email_payer",
            )
        subscription.end_date = plan.end_date
        subscription.save(update_fields=["end_date"])
        DateAbsence.objects.filter(
            subscription=subscription, session_date__date__gte=plan.end_date
        ).delete()
        withdrawal = Withdrawal.objects.create(
            subscription=subscription,
            last_date=last_date,
            reason=reason,
            note=note,
            payer_emailed=email_payer,
            actor=person(actor),
        )
        money = " ".join(plan.sentences(done=True))
        record_event(
            client=subscription.client,
            kind=ClientEvent.Kind.WITHDRAWN,
            summary=(
                f"Withdrawn from {subscription.session} after {last_date:%a %-d %b %Y} "
                f"({withdrawal.get_reason_display().lower()}). {money}"
            ),
            actor=actor,
            practitioners=[subscription.session.practitioner_id],
        )
        if email_payer:
            queue_email(
                template=WITHDRAWAL_EMAIL,
                to=payer.email,
                client=payer,
                context={"withdrawal_id": withdrawal.pk},
            )
        return Withdrawn(withdrawal, plan)
