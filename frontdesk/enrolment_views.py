"""Enrolment and withdrawal pages: "Add a client" and "Book once" on a session
date's roster, "Enrol" on a client's profile, "Withdraw" on a subscription. Each
page is also its own htmx fragment (``#form``): the form swaps itself."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from clients.models import Client
from clients.selectors import MAX_QUERY_LENGTH, search_clients
from frontdesk import enrolments, withdrawals
from frontdesk.enrolment_forms import BookOnceForm, EnrolForm, WithdrawForm
from frontdesk.models import Withdrawal
from frontdesk.relationship_flows import book_session
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.lib.money import format_money
from opus.lib.parsing import parse_id
from scheduling.forms import EARLIEST, LATEST
from scheduling.makeup import usable_credits
from scheduling.models import SessionDate, Subscription
from scheduling.permissions import can_enroll
from scheduling.services import FullDates

SEARCH_LIMIT = 20


def _error_onto(form, error: BusinessRuleError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _done(request, url: str, notice: str):
    messages.success(request, notice)
    if is_fragment_request(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _visible_session_date(request, session_date_id: int) -> SessionDate:
    session_date = get_object_or_404(
        SessionDate.objects.visible_to(request.user).select_related(
            "session__service", "session__practitioner", "session__room"
        ),
        pk=session_date_id,
    )
    if not can_enroll(request.user, session_date.session):
        raise PermissionDenied
    return session_date


def _chosen_client(request) -> Client | None:
    """The client picked on the roster (``client`` in the query or the form), among
    those the user sees: 404 for any other id."""
    raw = request.POST.get("client") or request.GET.get("client")
    if not raw:
        return None
    client_id = parse_id(raw)
    if client_id is None:
        return None
    return get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)


def _pick_client(request, context: dict, *, title: str, back_url: str):
    """The first step on a roster: find the client (``q``), each found a link that
    chooses them (``?client=``). A POST without a client starts again here."""
    if request.method == "POST":
        return redirect(request.path)
    q = request.GET.get("q", "")[:MAX_QUERY_LENGTH].strip()
    found = []
    if q:
        clients = search_clients(request.user, q=q).only("first_name", "last_name", "email")
        found = list(clients[:SEARCH_LIMIT])
    return render(
        request,
        page_or_fragment(request, "frontdesk/pick_client.html", "results"),
        {**context, "q": q, "found": found, "title": title, "back_url": back_url},
    )


# --- enrolment --------------------------------------------------------------------------
def _enrol(request, *, client, session=None, first_date=None, back_url: str, context: dict):
    today = timezone.localdate()
    relationships = enrolments.relationships_for(client, request.user)
    sessions = enrolments.enrollable_sessions(request.user, today=today)
    data = request.POST if request.method == "POST" else None
    listed = list(relationships)
    initial = {
        "relationship": enrolments.default_relationship(listed),
        "first_date": first_date,
        "request_key": enrolments.new_request_key(),
    }
    form = EnrolForm(
        data,
        initial=initial,
        sessions=sessions,
        relationships=relationships,
        fixed_session=session is not None,
    )
    full_dates: list[date] = []
    if data is not None and form.is_valid():
        cleaned = form.cleaned_data
        chosen = session or cleaned["session"]
        try:
            result = enrolments.enrol_client(
                client=client,
                session=chosen,
                relationship=cleaned["relationship"],
                first_date=cleaned["first_date"],
                skip=cleaned["skip"],
                request_key=cleaned["request_key"],
                actor=request.user,
            )
        except FullDates as error:
            form.add_error("first_date", error.message)
            full_dates = error.dates
        except BusinessRuleError as error:
            _error_onto(form, error)
        else:
            return _done(request, back_url, _enrolled_notice(result, client, chosen))
    return render(
        request,
        page_or_fragment(request, "frontdesk/enrol.html", "form"),
        {
            **context,
            "client": client,
            "fixed_session": session,
            "form": form,
            "relationship_count": len(listed),
            "back_url": back_url,
            "full_dates": full_dates,
            "full_dates_value": ",".join(f"{day:%Y-%m-%d}" for day in full_dates),
            "earliest": today - timedelta(days=settings.OPUS_ENROL_BACKDATE_DAYS),
            "backdate_days": settings.OPUS_ENROL_BACKDATE_DAYS,
        },
    )


def _enrolled_notice(result, client, session) -> str:
    subscription = result.subscription
    said = (
        f"{client.full_name} is enrolled in {session} from {subscription.first_date:%a %-d %b %Y}."
    )
    if result.skipped:
        said += f" Skipped (full): {', '.join(f'{d:%-d %b}' for d in result.skipped)}."
    invoice = result.invoice
    if invoice is not None:
        said += (
            f" Invoice {invoice.display_number} ({format_money(invoice.total, invoice.currency)}) "
            f"issued to {subscription.relationship.payer.full_name}."
        )
    return said


def add_client(request, session_date_id: int):
    """'Add a client' on a session date's roster: find the client, then enrol them
    in this session, from this date by default."""
    session_date = _visible_session_date(request, session_date_id)
    back_url = reverse("scheduling:session-date", args=[session_date.pk])
    context = {"section": "schedule", "sd": session_date, "action": "add-client"}
    client = _chosen_client(request)
    if client is None:
        return _pick_client(request, context, title="Add a client", back_url=back_url)
    return _enrol(
        request,
        client=client,
        session=session_date.session,
        first_date=session_date.date,
        back_url=back_url,
        context=context,
    )


def enrol(request, client_id: int):
    """'Enrol' on a client's profile: choose the session, who pays, the first date."""
    client = get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)
    back_url = reverse("clients:detail", args=[client.pk])
    return _enrol(request, client=client, back_url=back_url, context={"section": "clients"})


# --- a one-off booking ------------------------------------------------------------------
def book_once(request, session_date_id: int):
    """'Book once': a client on this date only, invoiced as "Create Session" does."""
    session_date = _visible_session_date(request, session_date_id)
    back_url = reverse("scheduling:session-date", args=[session_date.pk])
    context = {"section": "schedule", "sd": session_date, "action": "book-once"}
    client = _chosen_client(request)
    if client is None:
        return _pick_client(request, context, title="Book once", back_url=back_url)
    relationships = enrolments.relationships_for(client, request.user)
    listed = list(relationships)
    form = BookOnceForm(
        request.POST if request.method == "POST" else None,
        initial={"relationship": enrolments.default_relationship(listed)},
        relationships=relationships,
        makeup_credits=usable_credits(
            client.pk, service_id=session_date.session.service_id, on=session_date.date
        ),
    )
    if request.method == "POST" and form.is_valid():
        relationship = form.cleaned_data["relationship"]
        use_makeup = form.cleaned_data.get("use_makeup", False)
        try:
            booking = book_session(
                relationship=relationship,
                session_date=session_date,
                actor=request.user,
                use_makeup=use_makeup,
            )
        except BusinessRuleError as error:
            _error_onto(form, error)
        else:
            paid_by = (
                "with a make-up credit: nothing invoiced"
                if use_makeup
                else f"invoiced to {relationship.payer.full_name} "
                f"({format_money(booking.price, booking.currency)})"
            )
            return _done(
                request,
                back_url,
                f"{client.full_name} is booked on {session_date.date:%a %-d %b %Y} only; "
                f"{paid_by}.",
            )
    return render(
        request,
        page_or_fragment(request, "frontdesk/enrol.html", "form"),
        {
            **context,
            "client": client,
            "form": form,
            "relationship_count": len(listed),
            "back_url": back_url,
            "once": True,
        },
    )


# --- withdrawal ---------------------------------------------------------------------------
def default_last_date(subscription: Subscription, *, before: date) -> date:
    """The subscription's last held date before ``before``, else its first date."""
    last = (
        SessionDate.objects.filter(
            session_id=subscription.session_id,
            cancelled=False,
            date__lt=before,
            date__gte=subscription.first_date,
        )
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    return last or subscription.first_date


def withdraw(request, subscription_id: int):
    """'Withdraw': the last date attended, the reason, an optional email to the
    payer; before the click, what the withdrawal leaves paid and unused (the
    preview follows the last date as it changes: ``#preview``)."""
    subscription = get_object_or_404(
        Subscription.objects.visible_to(request.user).select_related(
            "client", "session__service", "session__practitioner", "relationship__payer"
        ),
        pk=subscription_id,
    )
    if not can_enroll(request.user, subscription.session):
        raise PermissionDenied
    # where the user came from: a roster (its date), or the client's profile
    from_date = _from_date(request, subscription)
    back_url = (
        reverse("scheduling:session-date", args=[from_date.pk])
        if from_date is not None
        else reverse("clients:detail", args=[subscription.client_id])
    )
    before = from_date.date if from_date is not None else timezone.localdate() + timedelta(days=1)
    initial = {"last_date": default_last_date(subscription, before=before)}
    done = Withdrawal.objects.filter(subscription=subscription).first()
    if request.method == "POST":
        form = WithdrawForm(request.POST, initial=initial)
        if done is None and form.is_valid():
            cleaned = form.cleaned_data
            try:
                result = withdrawals.withdraw_subscription(
                    subscription=subscription,
                    last_date=cleaned["last_date"],
                    reason=cleaned["reason"],
                    note=cleaned["note"],
                    email_payer=cleaned["email_payer"],
                    actor=request.user,
                )
            except BusinessRuleError as error:
                _error_onto(form, error)
            else:
                said = [
                    f"{subscription.client.full_name} is withdrawn from "
                    f"{subscription.session.service.name} after "
                    f"{result.withdrawal.last_date:%a %-d %b %Y}."
                ]
                if result.plan is not None:
                    said += result.plan.sentences(done=True)
                if result.withdrawal.payer_emailed and not result.replayed:
                    said.append(f"{subscription.relationship.payer.full_name} is emailed.")
                return _done(request, back_url, " ".join(said))
    else:
        typed = _typed_date(request.GET.get("last_date", ""))
        form = WithdrawForm(initial={"last_date": typed or initial["last_date"]})
    url = reverse("scheduling:withdraw", args=[subscription.pk])
    form.fields["last_date"].widget.attrs.update(
        {
            "hx-get": url,
            "hx-trigger": "change",
            "hx-target": "#withdraw-preview",
            "hx-swap": "outerHTML",
            "hx-include": "[name='from']",
        }
    )
    plan, refusal = None, None
    if done is None:
        last_date = _last_date(form, initial["last_date"])
        try:
            plan = withdrawals.plan_withdrawal(subscription=subscription, last_date=last_date)
        except BusinessRuleError as error:
            refusal = error.message
    wants_preview = is_fragment_request(request) and request.htmx.target == "withdraw-preview"
    template = "frontdesk/withdraw.html" + (
        "#preview" if wants_preview else ("#form" if is_fragment_request(request) else "")
    )
    return render(
        request,
        template,
        {
            "section": "clients",
            "subscription": subscription,
            "client": subscription.client,
            "form": form,
            "plan": plan,
            "refusal": refusal,
            "done": done,
            "back_url": back_url,
            "from_date": from_date,
        },
    )


def _from_date(request, subscription: Subscription) -> SessionDate | None:
    raw = request.POST.get("from") or request.GET.get("from")
    pk = parse_id(raw) if raw else None
    if pk is None:
        return None
    return (
        SessionDate.objects.visible_to(request.user)
        .filter(session_id=subscription.session_id, pk=pk)
        .first()
    )


def _typed_date(raw: str) -> date | None:
    try:
        day = date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return None
    return day if EARLIEST <= day <= LATEST else None


def _last_date(form, default: date) -> date:
    """The last date the preview is for: as posted when it is a date, else as
    asked for (the form's initial value)."""
    if form.is_bound:
        return form.cleaned_data.get("last_date") or default
    return form.initial.get("last_date") or default
