"""The transfer wizard: start, then one URL per step (target, dates, payment),
and the final POST. Each step renders as a page, or as the #wizard fragment for
htmx; a guard sends the user to the first step not yet complete."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseLocation

from billing.models import InvoiceLine, PaymentAttempt
from billing.selectors import balance_due, card_on_file
from frontdesk import selectors, transfers
from frontdesk.models import TransferDraft
from frontdesk.transfer_forms import DatesForm, DiscountForm, FinishForm
from frontdesk.wizard import Step, Wizard
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.lib.money import format_money
from opus.lib.parsing import parse_id
from opus.models import User
from scheduling.models import Service, Session, Subscription
from scheduling.permissions import can_transfer
from scheduling.services import FullDates


def _draft(request, draft_id) -> TransferDraft:
    draft = get_object_or_404(
        TransferDraft.objects.select_related(
            "subscription__client",
            "subscription__relationship__payer",
            "subscription__session__service",
            "subscription__session__practitioner",
            "target__service",
            "target__practitioner",
            "target__room",
        ),
        public_id=draft_id,
        subscription__in=Subscription.objects.visible_to(request.user),
    )
    if not can_transfer(request.user):
        raise PermissionDenied
    return draft


def _step_url(draft: TransferDraft, step: str) -> str:
    return reverse("scheduling:transfer-step", args=[draft.public_id, step])


def _go(request, url: str):
    """After a good POST: swap the next step in place (htmx) or redirect."""
    if is_fragment_request(request):
        return HttpResponseLocation(url, target="#wizard", select="#wizard", swap="outerHTML")
    return redirect(url)


@require_POST
def transfer_start(request):
    """The three entry points post here: subscription=<id>&date=<the date they came
    from>. A POST, because it writes the wizard's draft."""
    raw_id = request.POST.get("subscription", "")
    subscription = get_object_or_404(
        Subscription.objects.visible_to(request.user).select_related("session", "client"),
        pk=parse_id(raw_id) or 0,
    )
    if not can_transfer(request.user):
        raise PermissionDenied
    try:
        transfer_date = parse_date(request.POST.get("date", "")) or timezone.localdate()
    except ValueError:
        transfer_date = timezone.localdate()
    try:
        draft = transfers.start_transfer(
            subscription=subscription, transfer_date=transfer_date, actor=request.user
        )
    except BusinessRuleError as error:
        messages.error(request, error.message)
        return redirect("clients:detail", subscription.client_id)
    return redirect(_step_url(draft, "target"))


def _finished(request, draft: TransferDraft):
    """Any step of a transfer that was made (another tab, a double click): its
    result, the client's profile, saying so."""
    messages.info(request, "This transfer is done already: here is the client's profile.")
    profile = reverse("clients:detail", args=[draft.subscription.client_id])
    if is_fragment_request(request):
        return HttpResponseClientRedirect(profile)
    return redirect(profile)


def transfer_step(request, draft_id, step: str):
    draft = _draft(request, draft_id)
    if draft.transfer_id:
        return _finished(request, draft)
    chosen = TRANSFER.step(step)
    if chosen is None or not TRANSFER.reachable(draft, step):
        return redirect(_step_url(draft, TRANSFER.first_incomplete(draft).name))
    assert chosen.view is not None
    return chosen.view(request, draft)


def _render(request, draft, step: str, context: dict):
    context = {
        "section": "schedule",
        "draft": draft,
        "subscription": draft.subscription,
        "step": step,
        "steps": TRANSFER.nav(draft, step, lambda name: _step_url(draft, name)),
        **context,
    }
    template = page_or_fragment(request, f"scheduling/transfer/{step}.html", "wizard")
    return render(request, template, context)


def _target_step(request, draft: TransferDraft):
    error = None
    if request.method == "POST":
        raw = request.POST.get("session", "")
        session = Session.objects.visible_to(request.user).filter(pk=parse_id(raw) or 0).first()
        if session is None:
            error = "Choose one of the sessions listed."
        else:
            try:
                transfers.choose_target(draft=draft, session=session, actor=request.user)
            except BusinessRuleError as rule:
                error = rule.message
            else:
                return _go(request, _step_url(draft, "dates"))
    service = parse_id(request.GET.get("service"))
    practitioner = parse_id(request.GET.get("practitioner"))
    shown = min(
        max(parse_id(request.GET.get("shown")) or 0, selectors.TARGETS_SHOWN),
        selectors.TARGETS_MAX,
    )
    sessions = selectors.transfer_targets(
        request.user,
        draft.subscription,
        service=service,
        practitioner=practitioner,
        limit=shown + 1,  # one more: is there more to show?
    )
    more = None
    if len(sessions) > shown and shown < selectors.TARGETS_MAX:
        sessions = sessions[:shown]
        more = {"shown": shown + selectors.TARGETS_SHOWN}
        more.update({k: v for k, v in (("service", service), ("practitioner", practitioner)) if v})
    return _render(
        request,
        draft,
        "target",
        {
            "sessions": sessions,
            "services": Service.objects.filter(is_active=True).order_by("name"),
            "practitioners": User.objects.filter(role=User.Role.PRACTITIONER, is_active=True),
            "chosen_service": service,
            "chosen_practitioner": practitioner,
            "more_query": urlencode(more) if more else "",
            "shown": shown,
            "error": error,
        },
    )


def _dates_step(request, draft: TransferDraft):
    today = timezone.localdate()
    first_dates = selectors.coming_dates(draft.target, today=today)
    full_dates = []  # later dates found full: the user may accept them skipped
    if request.method == "POST":
        form = DatesForm(request.POST, first_dates=first_dates)
        if form.is_valid():
            try:
                transfers.choose_dates(
                    draft=draft,
                    first_date=form.cleaned_data["first_date"],
                    end_date=form.cleaned_data["end_date"],
                    skip=form.cleaned_data["skip"],
                    actor=request.user,
                )
            except FullDates as error:
                form.add_error("first_date", error.message)
                full_dates = error.dates
            except BusinessRuleError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                return _go(request, _step_url(draft, "payment"))
    else:
        # the first date with a free seat from the day the client leaves the old session:
        # an earlier one would have them in both sessions for a while
        preset = draft.first_date or next(
            (d.date for d in first_dates if d.free_seats > 0 and d.date >= draft.end_date), None
        )
        form = DatesForm(
            initial={"first_date": preset, "end_date": draft.end_date}, first_dates=first_dates
        )
    chosen = form["first_date"].value()
    return _render(
        request,
        draft,
        "dates",
        {
            "form": form,
            "first_dates": first_dates,
            "chosen_first_date": str(chosen) if chosen else "",
            "full_dates": full_dates,
            "full_dates_value": ",".join(f"{day:%Y-%m-%d}" for day in full_dates),
            # kept while the user stays on the first date they accepted them for
            "kept_skipped": ",".join(f"{day:%Y-%m-%d}" for day in draft.skipped_dates)
            if not full_dates and str(chosen) == str(draft.first_date)
            else "",
        },
    )


def _payment_context(request, draft: TransferDraft, **extra) -> dict:
    problem = None
    outcome = None
    try:
        outcome = transfers.preview(draft)
    except BusinessRuleError as error:
        problem = error.message
    else:  # each discount line is the draft's discount of the same rank: its Remove button
        discounts = (line for line in outcome.lines if line.kind == InvoiceLine.Kind.DISCOUNT)
        for index, line in enumerate(discounts):
            line.discount_index = index
    payer = draft.subscription.relationship.payer
    return {
        "outcome": outcome,
        "problem": problem,
        "payer": payer,
        "card": card_on_file(payer),
        "currency": draft.subscription.currency,
        "discount_form": extra.pop("discount_form", None) or DiscountForm(),
        "finish_form": extra.pop("finish_form", None)
        or FinishForm(initial={"due_on": FinishForm.default_due_on()}),
        "finish_labels": transfers.FINISHES,
        **extra,
    }


def _payment_step(request, draft: TransferDraft):
    return _render(request, draft, "payment", _payment_context(request, draft))


@require_POST
def transfer_discount(request, draft_id):
    draft = _draft(request, draft_id)
    if draft.transfer_id:
        return _finished(request, draft)
    form = DiscountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            transfers.add_discount(
                draft=draft,
                actor=request.user,
                reason=data["reason"],
                amount=data["value"] if data["kind"] == "amount" else None,
                percent=data["value"] if data["kind"] == "percent" else None,
            )
        except transfers.TransferDone:
            return _finished(request, draft)
        except BusinessRuleError as error:
            form.add_error("value" if error.field in ("amount", "percent") else None, error.message)
        else:
            return _go(request, _step_url(draft, "payment"))
    return _render(request, draft, "payment", _payment_context(request, draft, discount_form=form))


@require_POST
def transfer_discount_remove(request, draft_id, index: int):
    draft = _draft(request, draft_id)
    try:
        transfers.remove_discount(draft=draft, actor=request.user, index=index)
    except transfers.TransferDone:
        return _finished(request, draft)
    except BusinessRuleError as error:
        messages.error(request, error.message)
    return _go(request, _step_url(draft, "payment"))


@require_POST
def transfer_credit(request, draft_id):
    draft = _draft(request, draft_id)
    try:
        transfers.set_credit(
            draft=draft,
            actor=request.user,
            apply=request.POST.get("apply") == "1",
            leftover=request.POST.get("leftover") or None,
        )
    except transfers.TransferDone:
        return _finished(request, draft)
    except BusinessRuleError as error:
        messages.error(request, error.message)
    return _go(request, _step_url(draft, "payment"))


@require_POST
def transfer_finish(request, draft_id):
    draft = _draft(request, draft_id)
    profile = reverse("clients:detail", args=[draft.subscription.client_id])
    form = FinishForm(request.POST)
    if form.is_valid():
        try:
            outcome = transfers.finish_transfer(
                draft=draft, actor=request.user, finish=form.finish()
            )
        except BusinessRuleError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            unpaid = outcome.attempt is not None and outcome.attempt.payment_id is None
            if not outcome.replayed:
                if unpaid:
                    messages.warning(request, _unpaid_message(outcome))
                else:
                    messages.success(request, _done_message(outcome))
            # the card did not pay: the invoice's page has the ways on
            url = (
                reverse("billing:invoice-detail", args=[outcome.invoice.pk]) if unpaid else profile
            )
            if is_fragment_request(request):
                return HttpResponseClientRedirect(url)
            return redirect(url)
    elif draft.transfer_id:
        return _finished(request, draft)
    # the other finishes keep their presets: only the one submitted shows what was typed
    due_on = None if form["how"].value() == transfers.FINISH_PAY_LATER else form.default_due_on()
    return _render(
        request,
        draft,
        "payment",
        _payment_context(request, draft, finish_form=form, due_on_shown=due_on),
    )


def _done_message(outcome) -> str:
    transfer, invoice = outcome.transfer, outcome.invoice
    client = transfer.from_subscription.client
    status = {
        "open": f"open, emailed to {invoice.payer.full_name}"
        if invoice.payer.email
        else "open (the payer has no email address: send it by hand)",
        "paid": "paid",
        "closed": "closed",
    }.get(invoice.status, invoice.get_status_display().lower())
    said = (
        f"{client.full_name} moved to {transfer.to_subscription.session} from "
        f"{transfer.to_subscription.first_date:%-d %b %Y}. "
        f"Invoice {invoice.display_number}: {status}."
    )
    leftover = outcome.leftover_text()
    if leftover:
        said += f" {leftover}"
    if outcome.refund_error is not None:
        said += f" {outcome.refund_error.message}"
    return said


def _unpaid_message(outcome) -> str:
    """Enrolled, and the card did not pay: say so plainly, and the ways on."""
    transfer, invoice, attempt = outcome.transfer, outcome.invoice, outcome.attempt
    card = f"The card ending {attempt.payment_method.last4}"
    due = balance_due(invoice)
    open_for = f"{invoice.display_number} is open for {format_money(due, invoice.currency)}, " + (
        "due today" if invoice.due_on == timezone.localdate() else f"due {invoice.due_on:%-d %b %Y}"
    )
    if attempt.status == PaymentAttempt.Status.DECLINED:
        what = f"{card} was declined ({attempt.decline_reason}): {open_for}."
        ways = "Record a payment by hand, charge the card again, or send the invoice."
    elif attempt.status == PaymentAttempt.Status.PENDING:
        what = (
            f"The card processor did not answer about {card.lower()}: {open_for} until it "
            "does (Opus asks it again within minutes)."
        )
        ways = (
            "Charge the card again to ask now (it will not be charged twice), or record a "
            "payment by hand."
        )
    else:
        what = f"The charge to {card.lower()} never reached the card processor: {open_for}."
        ways = "Record a payment by hand, charge the card again, or send the invoice."
    return (
        f"Enrolled: {transfer.from_subscription.client.full_name} moved to "
        f"{transfer.to_subscription.session} from "
        f"{transfer.to_subscription.first_date:%-d %b %Y}. {what} {ways}"
    )


TRANSFER = Wizard(
    Step(
        "target", "New session", done=lambda draft: draft.target_id is not None, view=_target_step
    ),
    Step("dates", "First date", done=lambda draft: draft.first_date is not None, view=_dates_step),
    Step("payment", "Payment", done=lambda draft: False, view=_payment_step),
)
