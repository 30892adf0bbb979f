"""The practice's setup (staff only): services, rooms and sessions. A practitioner
gets 403 on the lists and forms, and 404 on any page about one object (the setup
is not theirs to see). Views are thin: the rules are in scheduling.setup."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from scheduling import setup
from scheduling.models import Room, Service, Session
from scheduling.permissions import can_set_up
from scheduling.setup_forms import (
    RoomForm,
    ServiceForm,
    SessionChangeForm,
    SessionEndForm,
    SessionForm,
)


def staff_setup(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_set_up(request.user):
            if kwargs:
                raise Http404
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _apply(form, call) -> object | None:
    """Call the service with the form's data; its refusal goes by its field."""
    try:
        return call()
    except BusinessRuleError as error:
        field = error.field if error.field in form.fields else None
        form.add_error(field, error.message)
        return None


def _page(request, template: str, context: dict):
    return render(request, template, {"section": "setup", **context})


# --- services -----------------------------------------------------------------------------
@staff_setup
def services(request):
    rows = Service.objects.annotate(
        session_count=Count(
            "sessions",
            filter=Q(sessions__last_date__isnull=True)
            | Q(sessions__last_date__gte=timezone.localdate()),
        )
    ).order_by("-is_active", "name")
    return _page(request, "scheduling/setup/services.html", {"services": rows, "tab": "services"})


@staff_setup
def service_new(request):
    return _service_form(request, None)


@staff_setup
def service_edit(request, service_id: int):
    return _service_form(request, get_object_or_404(Service, pk=service_id))


def _service_form(request, service: Service | None):
    if request.method == "POST":
        form = ServiceForm(request.POST)
        if form.is_valid():
            saved = _apply(
                form,
                lambda: setup.save_service(
                    data=form.cleaned_data, service=service, actor=request.user
                ),
            )
            if saved is not None:
                messages.success(request, f"Service saved: {saved.name}.")
                return redirect("scheduling:setup-services")
    elif service is not None:
        form = ServiceForm(
            initial={
                **{
                    name: getattr(service, name)
                    for name in (
                        "name",
                        "description",
                        "billing_basis",
                        "price",
                        "sessions_per_month",
                    )
                },
                **ServiceForm.initial_for(service),
            }
        )
    else:
        form = ServiceForm(initial={"billing_basis": Service.BillingBasis.PER_SESSION})
    history = service.changes.select_related("actor")[:50] if service else []
    return _page(
        request,
        "scheduling/setup/service_form.html",
        {"form": form, "service": service, "history": history, "tab": "services"},
    )


@require_POST
@staff_setup
def service_active(request, service_id: int):
    service = get_object_or_404(Service, pk=service_id)
    active = request.POST.get("active") == "1"
    setup.set_service_active(service=service, active=active, actor=request.user)
    messages.success(
        request,
        f"{service.name} is back in use."
        if active
        else f"{service.name} is retired: it is no longer offered for new sessions or enrolments.",
    )
    return redirect("scheduling:setup-services")


# --- rooms --------------------------------------------------------------------------------
@staff_setup
def rooms(request):
    rows = Room.objects.order_by("-is_active", "name")
    return _page(request, "scheduling/setup/rooms.html", {"rooms": rows, "tab": "rooms"})


@staff_setup
def room_new(request):
    return _room_form(request, None)


@staff_setup
def room_edit(request, room_id: int):
    return _room_form(request, get_object_or_404(Room, pk=room_id))


def _room_form(request, room: Room | None):
    if request.method == "POST":
        form = RoomForm(request.POST)
        if form.is_valid():
            saved = _apply(
                form,
                lambda: setup.save_room(
                    name=form.cleaned_data["name"], room=room, actor=request.user
                ),
            )
            if saved is not None:
                messages.success(request, f"Room saved: {saved.name}.")
                return redirect("scheduling:setup-rooms")
    else:
        form = RoomForm(initial={"name": room.name} if room else None)
    history = room.changes.select_related("actor")[:50] if room else []
    return _page(
        request,
        "scheduling/setup/room_form.html",
        {"form": form, "room": room, "history": history, "tab": "rooms"},
    )


@require_POST
@staff_setup
def room_active(request, room_id: int):
    room = get_object_or_404(Room, pk=room_id)
    active = request.POST.get("active") == "1"
    setup.set_room_active(room=room, active=active, actor=request.user)
    messages.success(
        request,
        f"{room.name} is back in use."
        if active
        else f"{room.name} is retired: new sessions can no longer use it.",
    )
    return redirect("scheduling:setup-rooms")


# --- sessions -----------------------------------------------------------------------------
@staff_setup
def sessions(request):
    rows = Session.objects.select_related("service", "practitioner", "room").order_by(
        "weekday", "start_time", "pk"
    )
    today = timezone.localdate()
    return _page(
        request,
        "scheduling/setup/sessions.html",
        {"sessions": rows, "today": today, "tab": "sessions"},
    )


def _session(session_id: int) -> Session:
    return get_object_or_404(
        Session.objects.select_related("service", "practitioner", "room"), pk=session_id
    )


@staff_setup
def session_new(request):
    form = SessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        session = _apply(
            form,
            lambda: setup.create_session(
                service=data["service"],
                practitioner=data["practitioner"],
                room=data["room"],
                start_time=data["start_time"],
                duration_minutes=data["duration_minutes"],
                capacity=data["capacity"],
                first_date=data["first_date"],
                last_date=data["last_date"],
                actor=request.user,
            ),
        )
        if session is not None:
            messages.success(request, f"Session created: {session}. Its dates are on the schedule.")
            return redirect("scheduling:setup-session", session_id=session.pk)
    return _page(request, "scheduling/setup/session_new.html", {"form": form, "tab": "sessions"})


@staff_setup
def session_detail(request, session_id: int):
    session = _session(session_id)
    today = timezone.localdate()
    coming = session.dates.filter(date__gte=today).order_by("date")[:8]
    generated_until = session.dates.order_by("-date").values_list("date", flat=True).first()
    return _page(
        request,
        "scheduling/setup/session.html",
        {
            "session": session,
            "coming": coming,
            "generated_until": generated_until,
            "history": session.changes.select_related("actor")[:100],
            "tab": "sessions",
        },
    )


@staff_setup
def session_edit(request, session_id: int):
    session = _session(session_id)
    if request.method == "POST":
        form = SessionChangeForm(request.POST, session=session)
        if form.is_valid():
            data = form.cleaned_data
            changes = _apply(
                form,
                lambda: setup.change_session(
                    session=session,
                    effective_date=data["effective_date"],
                    start_time=data["start_time"],
                    duration_minutes=data["duration_minutes"],
                    practitioner=data["practitioner"],
                    room=data["room"],
                    capacity=data["capacity"],
                    actor=request.user,
                ),
            )
            if changes is not None:
                messages.success(
                    request,
                    f"Session changed from {data['effective_date']:%a %-d %b %Y}."
                    if changes
                    else "Nothing changed.",
                )
                return redirect("scheduling:setup-session", session_id=session.pk)
    else:
        form = SessionChangeForm(
            session=session,
            initial={
                "effective_date": timezone.localdate(),
                "start_time": session.start_time,
                "duration_minutes": session.duration_minutes,
                "practitioner": session.practitioner_id,
                "room": session.room_id,
                "capacity": session.capacity,
            },
        )
    return _page(
        request,
        "scheduling/setup/session_edit.html",
        {"form": form, "session": session, "tab": "sessions"},
    )


@staff_setup
def session_end(request, session_id: int):
    """Choose the last date, see who it reaches, confirm. The confirmation swaps
    in place with htmx; without JavaScript it is the same page, posted."""
    session = _session(session_id)
    ending = None
    form = SessionEndForm(request.POST or None, initial={"last_date": session.last_date})
    if request.method == "POST" and form.is_valid():
        last_date = form.cleaned_data["last_date"]
        if request.POST.get("confirm") == "1":
            done = _apply(
                form,
                lambda: setup.end_session(session=session, last_date=last_date, actor=request.user),
            )
            if done is not None:
                messages.success(
                    request,
                    f"The session ends after {last_date:%a %-d %b %Y}: "
                    f"{len(done.subscriptions)} subscription(s) ended with it.",
                )
                url = reverse("scheduling:setup-session", args=[session.pk])
                if is_fragment_request(request):
                    return HttpResponseClientRedirect(url)
                return redirect(url)
        else:
            ending = _apply(
                form,
                lambda: setup.preview_end(session=session, last_date=last_date, actor=request.user),
            )
    template = page_or_fragment(request, "scheduling/setup/session_end.html", "end")
    return _page(
        request, template, {"form": form, "session": session, "ending": ending, "tab": "sessions"}
    )
