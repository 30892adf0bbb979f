"""Closures (staff only): the list, "Add closure" with its preview (a page, or
the #preview fragment for htmx), "Confirm closure", "Undo closure"; and on a
session date, "Cancel this date" and "Undo cancellation"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.lib.undo import success_with_undo
from scheduling import closures
from scheduling.closure_forms import CancelDateForm, ClosureForm
from scheduling.models import Closure
from scheduling.permissions import can_close
from scheduling.views import ROSTER_CHANGED, _session_date_context, _visible_session_date


def _staff_only(request) -> None:
    if not can_close(request.user):
        raise PermissionDenied


def closure_list(request):
    """The closures, those still to come (or under way) first."""
    _staff_only(request)
    today = timezone.localdate()
    rows = (
        Closure.objects.visible_to(request.user)
        .select_related("room", "practitioner", "created_by")
        .annotate(
            cancelled_dates=Count("dates"),
            coming=Case(
                When(Q(state=Closure.State.ACTIVE, last_date__gte=today), then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .order_by("coming", "first_date", "pk")
    )
    closures_ = list(rows)
    return render(
        request,
        "scheduling/closures/list.html",
        {
            "section": "closures",
            "coming": [c for c in closures_ if c.coming == 0],
            "others": [c for c in closures_ if c.coming == 1],
            "today": today,
        },
    )


def _form_page(request, form, *, preview=None, status=200):
    context = {"section": "closures", "form": form, "preview": preview}
    if preview is not None:
        context["hidden"] = form.hidden_values()
    template = page_or_fragment(request, "scheduling/closures/new.html", "preview")
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response


def _apply_error(form, error: BusinessRuleError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def closure_new(request):
    """'Add closure': the form; posted, the preview of every date and client it
    would affect, with 'Confirm closure'."""
    _staff_only(request)
    if request.method == "GET":
        return _form_page(request, ClosureForm(user=request.user))
    form = ClosureForm(request.POST, user=request.user)
    if not form.is_valid():
        return _form_page(request, form)
    try:
        preview = closures.preview_closure(**form.service_kwargs(), actor=request.user)
    except BusinessRuleError as error:
        _apply_error(form, error)
        return _form_page(request, form)
    return _form_page(request, form, preview=preview)


@require_POST
def closure_confirm(request):
    """'Confirm closure': cancels the dates; a second submit of the same form
    (its key) lands on the same result."""
    _staff_only(request)
    form = ClosureForm(request.POST, user=request.user)
    if form.is_valid() and form.cleaned_data.get("key") is None:
        form.add_error(None, "This form has expired: check the preview and confirm again.")
    if not form.is_valid():
        return _form_page(request, form)
    try:
        closed = closures.close_dates(
            **form.service_kwargs(),
            request_key=form.cleaned_data["key"],
            notify=form.cleaned_data["notify"],
            actor=request.user,
        )
    except BusinessRuleError as error:
        _apply_error(form, error)
        return _form_page(request, form)
    if closed.created:
        count = len(closed.affected.dates)
        plural = "" if count == 1 else "s"
        text = f"Closed: {closed.closure.reason}. {count} session date{plural} cancelled"
        if closed.emails:
            text += f"; {closed.emails} email{'' if closed.emails == 1 else 's'} on their way"
        undo = reverse("scheduling:closure-undo", args=[closed.closure.pk])
        success_with_undo(request, text + ".", undo)
    else:
        messages.info(request, f"{closed.closure.reason} was already confirmed: nothing more done.")
    return redirect("scheduling:closures")


@require_POST
def closure_undo(request, closure_id: int):
    """'Undo closure': re-opens its dates still to come."""
    closure = get_object_or_404(Closure.objects.visible_to(request.user), pk=closure_id)
    _staff_only(request)
    try:
        result = closures.undo_closure(closure=closure, actor=request.user)
    except BusinessRuleError as error:
        messages.error(request, error.message)
        return redirect("scheduling:closures")
    if not result.done:
        messages.info(request, f"{closure.reason} was already undone: nothing more done.")
        return redirect("scheduling:closures")
    count = len(result.reopened)
    text = f"{closure.reason} undone: {count} session date{'' if count == 1 else 's'} held again."
    if result.kept:
        kept = "; ".join(f"{closures.date_line(sd)}: {why}" for sd, why in result.kept)
        text += f" Still cancelled: {kept}."
    messages.success(request, text)
    return redirect("scheduling:closures")


def _date_change(request, session_date_id: int, change, undo: str = ""):
    sd = _visible_session_date(request, session_date_id)
    _staff_only(request)
    done = False  # a change that took returns (notice, True): it may be undone
    try:
        changed = change(sd)
        notice, done = changed if isinstance(changed, tuple) else (changed, False)
        level = messages.SUCCESS
    except BusinessRuleError as error:
        notice, level = error.message, messages.ERROR
    sd = _visible_session_date(request, session_date_id)  # as it is now
    # Undo is offered when the change took and can still be taken back
    undo_url = reverse(undo, args=[sd.pk]) if undo and done else ""
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
        undo_target="closest article",
    )
    response = render(request, "scheduling/session_date.html#panel", context)
    response["Vary"] = "HX-Request"
    return trigger_client_event(response, ROSTER_CHANGED)  # the schedule shows it too


@require_POST
def date_cancel(request, session_date_id: int):
    """'Cancel this date' (with a reason) on a session date still to come."""

    def change(sd):
        form = CancelDateForm(request.POST)
        if not form.is_valid():
            raise BusinessRuleError(
                "Give a reason (under 200 characters) to cancel this date.", field="reason"
            )
        done = closures.cancel_session_date(
            session_date=sd, reason=form.cleaned_data["reason"], actor=request.user
        )
        return ("This date is cancelled.", True) if done else "This date was already cancelled."

    return _date_change(request, session_date_id, change, undo="scheduling:date-reopen")


@require_POST
def date_reopen(request, session_date_id: int):
    """'Undo cancellation' on a cancelled session date still to come."""

    def change(sd):
        done = closures.reopen_session_date(session_date=sd, actor=request.user)
        return "This date is held again." if done else "This date is not cancelled."

    return _date_change(request, session_date_id, change)
