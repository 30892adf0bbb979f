from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from clients.models import Client
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request
from opus.lib.undo import success_with_undo
from scheduling.attendance import mark_all_present, mark_attendance
from scheduling.calendar import STEP, time_grid
from scheduling.forms import ScheduleForm, SchedulePeriodForm
from scheduling.models import Attendance, SessionDate, Subscription
from scheduling.permissions import can_close, can_mark_attendance, can_transfer, can_unenroll
from scheduling.policy import policy_for
from scheduling.schedule_cache import cached_fragment
from scheduling.selectors import places_text, roster_for, schedule_slots, week_start
from scheduling.services import undo_unenroll_from_date, unenroll_from_date

ROSTER_CHANGED = "roster-changed"


@dataclass
class Period:
    view: str
    start: date  # first day shown
    end: date  # the day after the last day shown
    previous: date
    next: date
    title: str
    focus: date  # the day asked for

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]


def period_for(view: str, day: date) -> Period:
    if view == "day":
        return Period(
            view,
            day,
            day + timedelta(days=1),
            day - timedelta(days=1),
            day + timedelta(days=1),
            f"{day:%A} {day.day} {day:%B %Y}",
            day,
        )
    if view == "month":
        first = day.replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        before = (first - timedelta(days=1)).replace(day=1)
        return Period(
            view,
            week_start(first),
            week_start(last) + timedelta(days=7),
            before,
            last + timedelta(days=1),
            f"{first:%B %Y}",
            day,
        )
    start = week_start(day)
    return Period(
        "week",
        start,
        start + timedelta(days=7),
        start - timedelta(days=7),
        start + timedelta(days=7),
        f"Week of {start.day} {start:%B %Y}",
        day,
    )


def schedule(request):
    """The schedule: a week (default), a day or a month of session dates. Rendered
    from the schedule cache (scheduling/schedule_cache.py) when it holds it."""
    today = timezone.localdate()
    now = timezone.localtime()
    asked = SchedulePeriodForm(request.GET or None)
    period = period_for(asked.value("view") or "week", asked.value("date") or today)
    # the grid of a period with today in it marks the quarter-hour now
    moment = None
    if period.view != "month" and period.start <= today < period.end:
        moment = (now.hour * 60 + now.minute) // STEP
    html = cached_fragment(
        request,
        ("schedule", today, moment),
        lambda extra: _render_schedule(request, period, today, now, extra),
    )
    if is_fragment_request(request):
        return HttpResponse(html)
    context = {"section": "schedule", "schedule_html": html}
    return render(request, "scheduling/schedule.html", context)


def _render_schedule(request, period: Period, today: date, now, extra: dict) -> str:
    form = ScheduleForm(request.GET or None, user=request.user)
    chosen = {name: form.value(name) for name in ("practitioner", "service", "room")}
    slots = schedule_slots(request.user, start=period.start, end=period.end, **chosen)
    by_day = defaultdict(list)
    for slot in slots:
        by_day[slot["date"]].append(slot)
    days = [{"day": day, "dates": by_day[day]} for day in period.days]
    across = form.value("across") or "practitioner"
    grid = None
    if period.view != "month":
        grid = time_grid(
            slots, days=period.days, now=now, across=across if period.view == "day" else None
        )
    context = {
        "form": form,
        "period": period,
        "today": today,
        "days": days,
        "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
        "filtered": any(chosen.values()),
        "grid": grid,
        "across": across,
        **extra,
    }
    return render_to_string("scheduling/schedule.html#schedule", context, request)


def _visible_session_date(request, session_date_id: int) -> SessionDate:
    return get_object_or_404(
        SessionDate.objects.visible_to(request.user).select_related(
            "session__service", "session__practitioner", "session__room"
        ),
        pk=session_date_id,
    )


def _session_date_context(request, session_date: SessionDate, **extra) -> dict:
    roster = roster_for(session_date)
    capacity = session_date.session.capacity
    return {
        "section": "schedule",
        "sd": session_date,
        "roster": roster,
        "full": roster.count >= capacity,
        "places": places_text(capacity, roster.count),
        "can_unenroll": can_unenroll(request.user, session_date),
        "can_transfer": can_transfer(request.user),
        "can_close": can_close(request.user),
        "changeable": not session_date.cancelled and not session_date.is_past,
        "can_mark": can_mark_attendance(request.user, session_date),
        # attendance is marked from the date's start on
        "markable": not session_date.cancelled and session_date.is_past,
        "marks": Attendance.Mark.choices,
        "policy": policy_for(session_date.session.service),
        "schedule_url": f"{reverse('scheduling:schedule')}?date={session_date.date:%Y-%m-%d}",
        **extra,
    }


def session_date(request, session_date_id: int):
    """One session date: its details and its roster; a panel over the schedule
    when asked for by htmx, a page of its own otherwise."""
    sd = _visible_session_date(request, session_date_id)
    panel = cached_fragment(
        request,
        ("panel", sd.pk, sd.is_past),
        lambda extra: render_to_string(
            "scheduling/session_date.html#panel",
            _session_date_context(request, sd, **extra),
            request,
        ),
    )
    if is_fragment_request(request):
        return HttpResponse(panel)
    context = {
        "section": "schedule",
        "sd": sd,
        "schedule_url": f"{reverse('scheduling:schedule')}?date={sd.date:%Y-%m-%d}",
        "panel_html": panel,
    }
    return render(request, "scheduling/session_date.html", context)


def _roster_change(
    request, session_date_id: int, subscription_id: int, change, done: str, undo: str = ""
):
    sd = _visible_session_date(request, session_date_id)
    subscription = get_object_or_404(
        Subscription.objects.visible_to(request.user)
        .filter(session_id=sd.session_id)
        .select_related("client"),
        pk=subscription_id,
    )
    if not can_unenroll(request.user, sd):
        raise PermissionDenied
    undo_url = ""
    try:
        change(subscription=subscription, session_date=sd, actor=request.user)
        notice, level = done.format(name=subscription.client.full_name), messages.SUCCESS
        undo_url = reverse(undo, args=[sd.pk, subscription.pk]) if undo else ""
    except BusinessRuleError as error:
        notice, level = error.message, messages.ERROR
    if not is_fragment_request(request):
        if undo_url:
            success_with_undo(request, notice, undo_url)
        else:
            messages.add_message(request, level, notice)
        return redirect("scheduling:session-date", session_date_id=sd.pk)
    context = _session_date_context(
        request,
        sd,
        notice=notice,
        notice_is_error=level == messages.ERROR,
        undo_url=undo_url,
        undo_target=f"#roster-{sd.pk}",
    )
    response = render(request, "scheduling/session_date.html#roster", context)
    return trigger_client_event(response, ROSTER_CHANGED)


@require_POST
def unenroll(request, session_date_id: int, subscription_id: int):
    """'Unenroll from this date only'."""
    return _roster_change(
        request,
        session_date_id,
        subscription_id,
        unenroll_from_date,
        "{name} is unenrolled from this date only: absent by request.",
        undo="scheduling:undo-unenroll",
    )


@require_POST
def undo_unenroll(request, session_date_id: int, subscription_id: int):
    return _roster_change(
        request,
        session_date_id,
        subscription_id,
        undo_unenroll_from_date,
        "{name} is back on the roster for this date.",
    )


def _attendance_done(request, sd: SessionDate, notice: str, is_error: bool, *, client=None):
    """After a mark: back to the page without htmx; with htmx, the client's row
    (one mark) or the roster ("All present")."""
    if not is_fragment_request(request):
        messages.add_message(request, messages.ERROR if is_error else messages.SUCCESS, notice)
        return redirect("scheduling:session-date", session_date_id=sd.pk)
    context = _session_date_context(request, sd, notice=notice, notice_is_error=is_error)
    if client is None:
        return render(request, "scheduling/session_date.html#roster", context)
    roster = context["roster"]
    entry = next((e for e in roster.attending + roster.absent if e.client.pk == client.pk), None)
    if entry is None:  # no longer on the roster: show the roster as it is
        return render(request, "scheduling/session_date.html#roster", context)
    context.update(entry=entry, row_notice=notice)
    return render(request, "scheduling/_roster_row.html", context)


@require_POST
def mark(request, session_date_id: int, client_id: int):
    """Mark one client's attendance on the date (the four marks of the roster row)."""
    sd = _visible_session_date(request, session_date_id)
    client = get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)
    if not can_mark_attendance(request.user, sd):
        raise PermissionDenied
    value = str(request.POST.get("mark", ""))[:30]
    try:
        attendance = mark_attendance(session_date=sd, client=client, mark=value, actor=request.user)
    except BusinessRuleError as error:
        return _attendance_done(request, sd, error.message, True, client=client)
    notice = f"{client.full_name}: {attendance.get_mark_display().lower()}"
    if attendance.mark in (Attendance.Mark.LATE_CANCELLED, Attendance.Mark.NO_SHOW):
        notice += ", charged" if attendance.chargeable else ", not charged"
    return _attendance_done(request, sd, notice + ".", False, client=client)


@require_POST
def all_present(request, session_date_id: int):
    """'All present': every attending client without a mark is marked present."""
    sd = _visible_session_date(request, session_date_id)
    if not can_mark_attendance(request.user, sd):
        raise PermissionDenied
    try:
        count = mark_all_present(session_date=sd, actor=request.user)
    except BusinessRuleError as error:
        return _attendance_done(request, sd, error.message, True)
    notice = (
        f"{count} marked present."
        if count
        else "Everyone attending has a mark already: nothing changed."
    )
    return _attendance_done(request, sd, notice, False)
