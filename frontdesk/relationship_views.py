from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from billing import rebilling
from billing.forms import AccountCreditForm
from billing.permissions import can_manage_billing
from billing.selectors import account_panel_context, card_panel_context
from clients.permissions import details_user_may_add
from frontdesk import relationship_flows as services
from frontdesk import relationship_page, selectors
from frontdesk.relationship_forms import (
    CreateSessionForm,
    EndRelationshipForm,
    MigrationRequestForm,
    PayingDetailsForm,
)
from frontdesk.wizard import Step, Wizard
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request
from opus.lib.middleware import not_activity
from opus.lib.parsing import parse_id
from relationships.models import Relationship, RelationshipMigration
from relationships.permissions import can_create_relationship
from scheduling.models import Session, SessionDate
from scheduling.services import FullDates


def _visible(request, pk: int) -> Relationship:
    return get_object_or_404(
        Relationship.objects.visible_to(request.user).select_related(
            "payer", "attendee", "practitioner", "replaced_by"
        ),
        pk=pk,
    )


def _error_onto(form, error: BusinessRuleError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


@require_GET
def relationship_detail(request, pk: int):
    """The relationship's page; as an htmx fragment, the rebooking preview for the
    sessions ticked (the checkboxes ask for it as they change)."""
    relationship = _visible(request, pk)
    context = _detail_context(request, relationship)
    wants_preview = is_fragment_request(request) and request.htmx.target == "rebook-preview"
    template = "relationships/detail.html" + ("#rebook-preview" if wants_preview else "")
    return render(request, template, context)


def _detail_context(request, relationship: Relationship) -> dict:
    today = timezone.localdate()
    page = relationship_page.relationship_page(relationship, request.user)
    draft = (
        page["migration_out"]
        if page["migration_out"] and page["migration_out"].status == "draft"
        else None
    )
    return {
        "section": "relationships",
        "relationship": relationship,
        "card_panel": card_panel_context(relationship.attendee, request.user),
        # the payer's account, staff's (what the practice owes back)
        "account_panel": account_panel_context(relationship.payer, request.user)
        if can_manage_billing(request.user)
        else None,
        "account_form": AccountCreditForm(currency=settings.OPUS_CURRENCY),
        "migration_block": selectors.migration_block(relationship, today=today),
        "draft": draft,
        "booking_block": selectors.booking_block(relationship),
        **_rebook_context(request, relationship),
        **page,
    }


def _rebook_context(request, relationship: Relationship) -> dict:
    """The sessions still under the old relationship, which of them are ticked (all,
    unless the form says otherwise) and what moving those means for the old payer."""
    coming = selectors.coming_under_old(relationship, request.user)
    if not coming.count:
        return {"coming_under_old": coming, "rebook_money": None}
    if request.GET.get("chosen"):
        chosen = coming.chosen(
            booking_ids=_ids(request.GET.getlist("booking")),
            subscription_ids=_ids(request.GET.getlist("subscription")),
        )
    else:
        chosen = coming
    may_refund = can_manage_billing(request.user)
    leftover = request.GET.get("leftover")
    if leftover not in rebilling.LEFTOVER_CHOICES or not may_refund:
        leftover = rebilling.LEFTOVER_CREDIT
    money = rebilling.old_payer_money(
        old=coming.old,
        subscriptions=chosen.subscriptions,
        bookings=chosen.bookings,
        leftover=leftover,
    )
    return {
        "coming_under_old": coming,
        "rebook_chosen": chosen,
        "chosen_bookings": {b.pk for b in chosen.bookings},
        "chosen_subscriptions": {s.pk for s in chosen.subscriptions},
        "rebook_money": money,
        "rebook_may_refund": may_refund,
        "rebook_preview": (
            money.sentences(done=False)
            if chosen.count
            else ["Choose at least one session to rebook."]
        ),
    }


@not_activity
@require_GET
def booking_panel(request, pk: int):
    """The "Create Session" panel alone: polled while the attendee has no card.
    Polls do not keep an idle session alive: after the idle timeout the next one
    is sent to the login page."""
    relationship = _visible(request, pk)
    if is_fragment_request(request) and selectors.booking_block(relationship) is None:
        # the card arrived: reload the whole page, whose rebooking form depends on it too
        return HttpResponseClientRefresh()
    context = _detail_context(request, relationship)
    return render(request, "relationships/detail.html#booking-panel", context)


# --- migration ---------------------------------------------------------------------------
MIGRATION = Wizard(  # its state: the relationship's migration draft, or None
    Step("asked", "Who asked", done=lambda m: m is not None and bool(m.requested_by)),
    Step("details", "Details and confirmation", done=lambda m: False),
)
MIGRATION_URLS = {"asked": "relationships:migrate", "details": "relationships:migrate-details"}


def _migration_steps(relationship, migration, current: str) -> list[dict]:
    return MIGRATION.nav(
        migration, current, lambda name: reverse(MIGRATION_URLS[name], args=[relationship.pk])
    )


def migrate_start(request, pk: int):
    """Step 1 of "Migrate to first party relationship…": who asked, and how."""
    relationship = _visible(request, pk)
    draft = RelationshipMigration.objects.filter(old_relationship=relationship).first()
    if draft and draft.status != RelationshipMigration.Status.DRAFT:
        return redirect("relationships:detail", pk=draft.new_relationship_id)
    block = selectors.migration_block(relationship, today=timezone.localdate())
    initial = (
        {"requested_by": draft.requested_by, "request_note": draft.request_note} if draft else {}
    )
    form = MigrationRequestForm(request.POST or None, initial=initial)
    if (
        request.method == "POST"
        and form.is_valid()
        and not (block and not block.needs_date_of_birth)
    ):
        try:
            services.start_migration(
                relationship=relationship, actor=request.user, **form.cleaned_data
            )
        except services.MigrationDone as done:  # confirmed meanwhile: its result
            return redirect("relationships:detail", pk=done.migration.new_relationship_id)
        except BusinessRuleError as error:
            _error_onto(form, error)
        else:
            return redirect("relationships:migrate-details", pk=relationship.pk)
    return render(
        request,
        "relationships/migrate_start.html",
        {
            "section": "relationships",
            "relationship": relationship,
            "form": form,
            "blocked": block,
            "steps": _migration_steps(relationship, draft, "asked"),
        },
    )


def migrate_details(request, pk: int):
    """Step 2: only the missing details, kept when saved unfinished; then "Confirm Migration"."""
    relationship = _visible(request, pk)
    migration = RelationshipMigration.objects.filter(old_relationship=relationship).first()
    if not MIGRATION.reachable(migration, "details"):
        return redirect("relationships:migrate", pk=relationship.pk)
    if migration.status != RelationshipMigration.Status.DRAFT:
        return redirect("relationships:detail", pk=migration.new_relationship_id)
    missing = selectors.missing_details(relationship.attendee)
    for_staff = selectors.details_for_staff(relationship.attendee, missing, request.user)
    allowed = details_user_may_add(request.user, missing)
    if request.method == "POST":
        form = PayingDetailsForm(request.POST, missing=allowed)
        try:
            services.save_migration_details(
                migration=migration, actor=request.user, details=request.POST.dict()
            )
        except services.MigrationDone as done:  # confirmed meanwhile: its result
            return _to_page(request, done.migration.new_relationship.get_absolute_url())
        if request.POST.get("action") == "save":
            messages.success(
                request, "Saved. You can finish the migration later, from the relationship page."
            )
            if is_fragment_request(request):
                return HttpResponseClientRedirect(relationship.get_absolute_url())
            return redirect("relationships:detail", pk=relationship.pk)
        if form.is_valid():
            try:
                result = services.confirm_migration(migration=migration, actor=request.user)
            except BusinessRuleError as error:
                _error_onto(form, error)
            else:
                if not result.replayed:
                    messages.success(request, _confirmation_message(result))
                return _to_page(request, result.new_relationship.get_absolute_url())
    else:
        form = (
            PayingDetailsForm(data=migration.details or None, missing=allowed)
            if migration.details
            else PayingDetailsForm(missing=allowed)
        )
    return render(
        request,
        "relationships/migrate_details.html",
        {
            "section": "relationships",
            "relationship": relationship,
            "steps": _migration_steps(relationship, migration, "details"),
            "migration": migration,
            "form": form,
            "missing": allowed,
            "for_staff": for_staff,
        },
    )


def _to_page(request, url: str):
    """The whole page at ``url``: the details form swaps the body (htmx), where a
    plain redirect would be followed and could come back as a fragment."""
    if is_fragment_request(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _confirmation_message(result) -> str:
    attendee = result.new_relationship.attendee
    if result.card_requested:
        return (
            f"{attendee.full_name} now pays for their own sessions. We are emailing them a link "
            "to add a payment card; Create Session becomes available once they have."
        )
    return f"{attendee.full_name} now pays for their own sessions, with the card on file."


# --- booking -------------------------------------------------------------------------------
def create_session(request, pk: int):
    relationship = _visible(request, pk)
    sessions = Session.objects.visible_to(request.user).select_related("service", "practitioner")
    if relationship.practitioner_id:
        sessions = sessions.filter(practitioner_id=relationship.practitioner_id)
    form = CreateSessionForm(request.POST or None, sessions=sessions)
    block = selectors.booking_block(relationship)
    full_dates = []  # later dates found full: the user may accept them skipped
    if request.method == "POST" and form.is_valid() and not block:
        data = form.cleaned_data
        try:
            if data["repeat"] == "weekly":
                services.book_session(
                    relationship=relationship,
                    actor=request.user,
                    session=data["session"],
                    first_date=data["date"],
                    skip=data["skip"],
                )
            else:
                session_date = SessionDate.objects.filter(
                    session=data["session"], date=data["date"]
                ).first()
                if session_date is None:
                    raise BusinessRuleError("The session does not run on that date.", field="date")
                services.book_session(
                    relationship=relationship, actor=request.user, session_date=session_date
                )
        except FullDates as error:
            form.add_error("date", error.message)
            full_dates = error.dates
        except BusinessRuleError as error:
            if error.field == "first_date":
                error.field = "date"
            _error_onto(form, error)
        else:
            messages.success(request, f"Session booked for {relationship.attendee.full_name}.")
            return redirect("relationships:detail", pk=relationship.pk)
    return render(
        request,
        "relationships/create_session.html",
        {
            "section": "relationships",
            "relationship": relationship,
            "form": form,
            "blocked": block,
            "full_dates": full_dates,
            "full_dates_value": ",".join(f"{day:%Y-%m-%d}" for day in full_dates),
        },
    )


@require_POST
def rebook(request, pk: int):
    relationship = _visible(request, pk)
    try:
        result = services.rebook_coming_sessions(
            relationship=relationship,
            actor=request.user,
            booking_ids=_ids(request.POST.getlist("booking")),
            subscription_ids=_ids(request.POST.getlist("subscription")),
            leftover=request.POST.get("leftover") or rebilling.LEFTOVER_CREDIT,
        )
    except BusinessRuleError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            " ".join(
                [
                    f"{result.moved} coming {'session' if result.moved == 1 else 'sessions'} "
                    "moved: "
                    f"{relationship.attendee.full_name} pays for them now.",
                    *result.sentences(),
                ]
            ),
        )
    if is_fragment_request(request):
        return HttpResponseClientRedirect(relationship.get_absolute_url())
    return redirect("relationships:detail", pk=relationship.pk)


def _ids(values: list[str]) -> list[int]:
    return [pk for pk in map(parse_id, values) if pk is not None][:500]


# --- ending ----------------------------------------------------------------------------------
def end_relationship(request, pk: int):
    """ "End relationship": a date and a reason; sessions still booked after it are
    listed, to be moved (the rebooking) or ended too."""
    relationship = _visible(request, pk)
    if not can_create_relationship(request.user):
        raise PermissionDenied
    if not relationship.is_active:
        return redirect("relationships:detail", pk=relationship.pk)
    others = (
        Relationship.objects.active()
        .filter(attendee_id=relationship.attendee_id)
        .exclude(pk=relationship.pk)
        .select_related("payer", "practitioner")
    )
    data = request.POST if request.method == "POST" else None
    form = EndRelationshipForm(data, others=others, initial={"ended_on": timezone.localdate()})
    still_booked = None
    if data is not None and form.is_valid():
        try:
            result = services.end_relationship(
                relationship=relationship, actor=request.user, **form.cleaned_data
            )
        except services.SessionsStillBooked as error:
            still_booked = error
            form.add_error(None, error.message)
        except BusinessRuleError as error:
            _error_onto(form, error)
        else:
            messages.success(request, _ended_message(result))
            return redirect("relationships:detail", pk=relationship.pk)
    return render(
        request,
        "relationships/end.html",
        {
            "section": "relationships",
            "relationship": relationship,
            "form": form,
            "still_booked": still_booked,
            "others": others,
        },
    )


def _ended_message(result) -> str:
    parts = ["Relationship ended."]
    if result.moved:
        parts.append(f"{result.moved} coming session{'s' if result.moved != 1 else ''} moved.")
    if result.ended:
        parts.append(f"{result.ended} of its sessions ended with it.")
    return " ".join(parts)
