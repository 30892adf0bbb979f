from __future__ import annotations

import contextlib
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.http.request import RawPostDataException
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseLocation

from billing import pdf, ratelimit, selectors, services, stripe_gateway
from billing.consent import consent_text
from billing.forms import (
    AccountCreditForm,
    ApplyCreditForm,
    CardForm,
    CardRequestForm,
    ChargeForm,
    InvoiceFilterForm,
    IssueForm,
    PayForm,
    PaymentForm,
    ReasonForm,
    RefundForm,
    SendForm,
    StatementForm,
    StripePayForm,
)
from billing.gateway import CardError, GatewayError, get_gateway
from billing.models import BillingRun, Invoice, PaymentAttempt, PaymentCardRequest, Refund
from billing.permissions import can_manage_billing
from billing.services import gateway_events, runs
from billing.statements import statement_for
from billing.tokens import confirmation_token_for, looks_like_token
from clients.models import Client
from opus import practice as practices
from opus.lib.clientip import client_ip
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.lib.money import format_money, round_money

INVOICES_PER_PAGE = 50

# --- invoices ----------------------------------------------------------------------------------


@require_GET
def invoice_list(request):
    form = InvoiceFilterForm(request.GET or None)
    invoices = selectors.invoice_list(request.user, form.filters())
    page = Paginator(invoices, INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "section": "invoices",
        "form": form,
        "page": page,
        "sums": selectors.invoice_sums(invoices),
        "today": timezone.localdate(),
    }
    return render(
        request, page_or_fragment(request, "billing/invoice_list.html", "results"), context
    )


def _visible_invoice(request, invoice_id: int) -> Invoice:
    invoices = selectors.with_balance(
        Invoice.objects.visible_to(request.user).select_related(
            "payer", "relationship__attendee", "autopay"
        )
    )
    return get_object_or_404(invoices, pk=invoice_id)


def _refund_form(payment, currency: str, data=None) -> RefundForm:
    left = payment.amount - payment.refunded
    return RefundForm(
        data,
        currency=currency,
        payments=[payment],
        auto_id=f"refund-{payment.pk}-%s",
        initial={
            "payment": payment.pk,
            "amount": round_money(left, currency),
            "method": "card" if payment.method == "card" else "cash",
            "request_key": uuid.uuid4().hex,
        },
    )


def _detail_context(request, invoice: Invoice, **forms) -> dict:
    lines = list(invoice.lines.all())
    card = selectors.card_on_file(invoice.payer) if invoice.status == Invoice.Status.OPEN else None
    balance = selectors.balance_due(invoice)
    can_manage = can_manage_billing(request.user)
    payments = list(invoice.payments.select_related("recorded_by").prefetch_related("refunds"))
    failed_refund = forms.get("refund_form")
    for payment in payments:
        payment.left_to_refund = payment.amount - payment.refunded
        if can_manage:
            payment.refund_form = (
                failed_refund
                if failed_refund is not None and failed_refund.payment_pk == payment.pk
                else _refund_form(payment, invoice.currency)
            )
    account_credit = (
        selectors.account_balance(invoice.payer, invoice.currency)
        if can_manage and invoice.status in (Invoice.Status.DRAFT, Invoice.Status.OPEN)
        else None
    )
    return {
        "payments": payments,
        "account_credit": account_credit,
        "apply_form": forms.get("apply_form") or ApplyCreditForm(currency=invoice.currency),
        "section": "invoices",
        "invoice": invoice,
        "lines": lines,
        "totals": services.invoice_totals(lines),
        "balance": balance,
        "overdue": selectors.is_overdue(invoice),
        "card": card,
        "can_manage": can_manage,
        "fragment": is_fragment_request(request),
        "payment_form": forms.get("payment_form")
        or PaymentForm(
            initial={"amount": round_money(balance, invoice.currency) or None},
            currency=invoice.currency,
        ),
        "charge_form": forms.get("charge_form")
        or ChargeForm(initial={"request_key": uuid.uuid4().hex}),
        "attempts": list(
            invoice.attempts.exclude(status=PaymentAttempt.Status.SUCCEEDED).select_related(
                "payment_method"
            )
        ),
        "autopay": getattr(invoice, "autopay", None),
        "events": list(invoice.events.all()),
        "void_form": forms.get("void_form") or ReasonForm(prefix="void"),
        "close_form": forms.get("close_form") or ReasonForm(prefix="close"),
        "issue_form": forms.get("issue_form")
        or IssueForm(initial={"due_on": services.default_due_on(timezone.localdate())}),
        "open_action": forms.get("open_action", ""),
        "action_error": forms.get("action_error", ""),
    }


def _render_detail(request, invoice, **forms):
    template = page_or_fragment(request, "billing/invoice_detail.html", "invoice")
    return render(request, template, _detail_context(request, invoice, **forms))


@require_GET
def invoice_detail(request, invoice_id: int):
    return _render_detail(request, _visible_invoice(request, invoice_id))


@require_GET
def invoice_pdf_download(request, invoice_id: int):
    """The invoice as a PDF, for whoever may see the invoice's page (staff, and the
    practitioner of an invoice about their sessions only)."""
    invoice = _visible_invoice(request, invoice_id)
    response = HttpResponse(pdf.invoice_pdf(invoice), content_type=pdf.MIMETYPE)
    response["Content-Disposition"] = f'attachment; filename="{pdf.invoice_filename(invoice)}"'
    response["Cache-Control"] = "no-store, private"
    return response


def _staff_invoice(request, invoice_id: int) -> Invoice:
    """404 when the user cannot see the invoice, 403 when they may not act on it."""
    invoice = _visible_invoice(request, invoice_id)
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can change invoices and payments.")
    return invoice


def _done(request, invoice: Invoice, message: str, *, level=messages.SUCCESS):
    messages.add_message(request, level, message)
    url = reverse("billing:invoice-detail", args=[invoice.pk])
    if is_fragment_request(request):
        return HttpResponseLocation(url, target="#invoice", swap="outerHTML")
    return redirect(url)


def _invoice_action(request, invoice_id, form, form_name, action):
    """Validate, call the service, and answer: the shared shape of every action.
    ``form`` is a form, or a function of the invoice that makes it."""
    invoice = _staff_invoice(request, invoice_id)
    if callable(form):
        form = form(invoice)
    action_error = ""
    if form.is_valid():
        try:
            message = action(invoice, form.cleaned_data)
        except (
            services.CardDeclined,
            services.ChargePending,
            services.RefundPending,
            services.RefundRefused,
        ) as error:
            # the attempt is recorded: the page is drawn afresh, its new key a new try
            return _done(request, invoice, error.message, level=messages.ERROR)
        except BusinessRuleError as error:
            if error.field in form.fields:
                form.add_error(error.field, error.message)
            else:  # about the invoice, not a field: shown above the actions
                action_error = error.message
        else:
            return _done(request, invoice, message)
    invoice = _visible_invoice(request, invoice_id)
    return _render_detail(
        request,
        invoice,
        **{form_name: form, "open_action": form_name, "action_error": action_error},
    )


@require_POST
def invoice_issue(request, invoice_id: int):
    def action(invoice, data):
        issued = services.issue_invoice(invoice=invoice, due_on=data["due_on"], actor=request.user)
        return f"{issued.display_number} issued."

    return _invoice_action(request, invoice_id, IssueForm(request.POST), "issue_form", action)


@require_POST
def invoice_record_payment(request, invoice_id: int):
    def action(invoice, data):
        payment = services.record_payment(
            invoice=invoice,
            amount=data["amount"],
            method=data["method"],
            reference=data["reference"],
            excess_to_credit=data["excess_to_credit"],
            actor=request.user,
        )
        said = f"Payment of {format_money(payment.amount, payment.currency)} recorded."
        if payment.excess:
            said += (
                f" {format_money(payment.excess, payment.currency)} above the balance is kept "
                f"as account credit for {invoice.payer.full_name}."
            )
        return said

    def form(invoice):
        return PaymentForm(request.POST, currency=invoice.currency)

    return _invoice_action(request, invoice_id, form, "payment_form", action)


@require_POST
def invoice_charge_card(request, invoice_id: int):
    def action(invoice, data):
        card = selectors.card_on_file(invoice.payer)
        if card is None:
            raise BusinessRuleError("The payer has no usable card on file.")
        payment = services.charge_card(
            invoice=invoice,
            payment_method=card,
            request_key=data["request_key"],
            actor=request.user,
        )
        return f"{format_money(payment.amount, payment.currency)} charged to {payment.reference}."

    return _invoice_action(request, invoice_id, ChargeForm(request.POST), "charge_form", action)


@require_POST
def invoice_send(request, invoice_id: int):
    def action(invoice, data):
        if not services.send_invoice(invoice=invoice, actor=request.user):
            raise BusinessRuleError(
                f"{invoice.payer.full_name} has no email address: add one, or hand the "
                "invoice over printed."
            )
        return f"{invoice.display_number} is on its way to {invoice.payer.email}."

    return _invoice_action(request, invoice_id, SendForm(request.POST), "send_form", action)


@require_POST
def invoice_void(request, invoice_id: int):
    def action(invoice, data):
        voided = services.void_invoice(invoice=invoice, reason=data["reason"], actor=request.user)
        return f"{voided.display_number} voided."

    form = ReasonForm(request.POST, prefix="void")
    return _invoice_action(request, invoice_id, form, "void_form", action)


@require_POST
def invoice_close(request, invoice_id: int):
    def action(invoice, data):
        closed = services.close_invoice(invoice=invoice, reason=data["reason"], actor=request.user)
        return f"{closed.display_number} closed."

    form = ReasonForm(request.POST, prefix="close")
    return _invoice_action(request, invoice_id, form, "close_form", action)


@require_POST
def invoice_apply_credit(request, invoice_id: int):
    def action(invoice, data):
        entry = services.apply_account_credit(
            invoice=invoice, actor=request.user, amount=data["amount"]
        )
        if entry is None:
            raise BusinessRuleError(
                f"{invoice.payer.full_name} has no account credit to apply, or nothing is "
                "left to pay."
            )
        return (
            f"{format_money(-entry.amount, invoice.currency)} of account credit applied to "
            f"{invoice.display_number}."
        )

    def form(invoice):
        return ApplyCreditForm(request.POST, currency=invoice.currency)

    return _invoice_action(request, invoice_id, form, "apply_form", action)


@require_POST
def invoice_refund(request, invoice_id: int):
    def action(invoice, data):
        payment = invoice.payments.get(pk=data["payment"])
        refund = services.refund_payment(
            payment=payment,
            amount=data["amount"],
            reason=data["reason"],
            method=data["method"],
            from_account=data["from_account"],
            request_key=data["request_key"],
            actor=request.user,
        )
        how = "to the card" if refund.method == Refund.Method.CARD else "recorded as paid back"
        return f"Refund of {format_money(refund.amount, refund.currency)} {how}."

    def form(invoice):
        payments = list(invoice.payments.all())
        bound = RefundForm(request.POST, currency=invoice.currency, payments=payments)
        chosen = request.POST.get("payment", "")
        bound.payment_pk = int(chosen) if chosen.isdigit() and len(chosen) < 10 else None
        if bound.payment_pk not in {p.pk for p in payments}:
            raise Http404("No such payment on this invoice.")
        bound.auto_id = f"refund-{bound.payment_pk}-%s"
        return bound

    return _invoice_action(request, invoice_id, form, "refund_form", action)


# --- the payer's account (staff) -------------------------------------------------------------


def _account_response(request, client: Client, *, form=None, error: str = "", notice: str = ""):
    context = {
        "section": "clients",
        "client": client,
        "account": selectors.account_panel_context(client, request.user),
        "account_form": form or AccountCreditForm(currency=settings.OPUS_CURRENCY),
        "account_error": error,
        "account_notice": notice,
        "account_next": _safe_next(request) or request.get_full_path(),
    }
    template = page_or_fragment(request, "billing/client_account.html", "panel")
    return render(request, template, context)


@require_GET
def client_account(request, client_id: int):
    """The payer's account: staff's (its entries name sessions and invoices of any
    practitioner; the profile shows it to staff only too)."""
    client = _visible_client(request, client_id)
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can see a payer's account.")
    return _account_response(request, client)


@require_POST
def account_credit_add(request, client_id: int):
    """ "Add account credit": a goodwill credit, staff only, with a reason."""
    client = _visible_client(request, client_id)
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can add account credit.")
    form = AccountCreditForm(request.POST, currency=settings.OPUS_CURRENCY)
    error = notice = ""
    if form.is_valid():
        try:
            entry = services.grant_account_credit(
                payer=client,
                amount=form.cleaned_data["amount"],
                currency=settings.OPUS_CURRENCY,
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except BusinessRuleError as failure:
            if failure.field in form.fields:
                form.add_error(failure.field, failure.message)
            else:
                error = failure.message
        else:
            notice = (
                f"{format_money(entry.amount, entry.account.currency)} of account credit added "
                f"for {client.full_name}."
            )
            form = None
    else:
        error = "Check the amount and give a reason."
    if is_fragment_request(request) or form is not None:
        return _account_response(request, client, form=form, error=error, notice=notice)
    messages.success(request, notice)
    return redirect(_safe_next(request) or reverse("billing:client-account", args=[client.pk]))


# --- cards on file and card requests (staff and the client's practitioner) ---------------------


def _visible_client(request, client_id: int) -> Client:
    return get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)


def _panel_response(request, client: Client, *, form=None, error: str = "", notice: str = ""):
    context = {
        "panel": selectors.card_panel_context(client, request.user),
        "panel_form": form or CardRequestForm(initial={"reason": DEFAULT_CARD_REASON}),
        "panel_error": error,
        "panel_notice": notice,
        "panel_next": _safe_next(request),
    }
    return render(request, "billing/_card_panel.html", context)


DEFAULT_CARD_REASON = "So that your sessions can be charged to your card."


def _safe_next(request) -> str:
    """Where the panel sends the user back to: a path on this site, or "" for
    anything else (another site, a URL name, "0")."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    is_path = (
        candidate.startswith("/")
        and not candidate.startswith("//")
        and not any(ch.isspace() or ch == "\\" for ch in candidate)
    )
    if is_path and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _after_panel_action(request, client, *, error: str = "", notice: str = "", form=None):
    if is_fragment_request(request):
        return _panel_response(request, client, form=form, error=error, notice=notice)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect(_safe_next(request) or reverse("billing:client-cards", args=[client.pk]))


@require_GET
def client_cards(request, client_id: int):
    client = _visible_client(request, client_id)
    return render(
        request,
        "billing/client_cards.html",
        {
            "section": "clients",
            "client": client,
            "panel": selectors.card_panel_context(client, request.user),
            "panel_form": CardRequestForm(initial={"reason": DEFAULT_CARD_REASON}),
            "panel_next": request.get_full_path(),
        },
    )


@require_POST
def card_request_create(request, client_id: int):
    client = _visible_client(request, client_id)
    form = CardRequestForm(request.POST)
    if not form.is_valid():
        return _after_panel_action(
            request,
            client,
            error="Say why the card is needed: the email tells the client.",
            form=form,
        )
    try:
        services.request_payment_card(
            client=client, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except BusinessRuleError as error:
        return _after_panel_action(request, client, error=error.message, form=form)
    return _after_panel_action(
        request, client, notice=f"A link to add a card is on its way to {client.first_name}."
    )


@require_POST
def client_autopay(request, client_id: int):
    client = _visible_client(request, client_id)
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can turn autopay on or off.")
    enabled = request.POST.get("autopay") == "on"
    services.set_autopay(client=client, enabled=enabled, actor=request.user)
    state = "on" if enabled else "off"
    return _after_panel_action(
        request, client, notice=f"Autopay is {state} for {client.first_name}."
    )


@require_POST
def card_request_resend(request, request_id: int):
    card_request = get_object_or_404(
        PaymentCardRequest.objects.filter(
            client__in=Client.objects.visible_to(request.user)
        ).select_related("client"),
        pk=request_id,
    )
    client = card_request.client
    try:
        services.resend_payment_card_request(card_request=card_request, actor=request.user)
    except BusinessRuleError as error:
        return _after_panel_action(request, client, error=error.message)
    return _after_panel_action(
        request, client, notice=f"The email is on its way to {client.first_name} again."
    )


# --- the public card link --------------------------------------------------------------------

IP_SCOPE = "card-link-ip"
CARD_SCOPE = "card-link-card"


def _link_response(request, template: str, context: dict, *, status: int = 200):
    response = render(
        request,
        template,
        {
            "practice_name": practices.current().name,
            "dev_hide_nav": True,
            "consent_text": consent_text(),
            **context,
        },
        status=status,
    )
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# CSRF protection guards what a browser's cookies authorise; this page uses no
# cookie at all: the secret token in its URL is the whole authority, and a
# forger who knows it has no need of the client's browser. Its responses also
# carry Referrer-Policy: no-referrer, with which Chromium posts the form with
# "Origin: null", which Django's origin check would refuse.
@csrf_exempt
@login_not_required
@csrf_exempt
@sensitive_post_parameters("number", "cvc")
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_variables("form", "card")
def card_link(request, token: str):
    """GET and HEAD change nothing (mail scanners open links); POST adds the card.

    Not CSRF-checked: the unguessable token in the path is the secret a CSRF
    token stands in for (a forged POST needs the token, and with it one can post
    directly), and ``Referrer-Policy: no-referrer`` makes browsers send
    ``Origin: null``, which Django's origin check refuses. No cookie is set.
    """
    ip_limit, card_limit, window = settings.OPUS_CARD_LINK_LIMITS
    card_request = selectors.card_request_for_token(token)
    if card_request is None:
        # Only unknown tokens count against an address, and only they are refused:
        # everyone behind one office address or proxy shares it, and a live link
        # must open whatever someone else there guessed.
        guesses = ratelimit.record_failure(IP_SCOPE, client_ip(request) or "", window=window)
        if guesses > ip_limit:
            return _link_response(request, "billing/card_link_limited.html", {}, status=429)
        return _link_response(request, "billing/card_link_unknown.html", {}, status=404)
    now = timezone.now()
    if not card_request.is_live_at(now):
        return _gone(request, card_request, card_request.state_at(now))
    if card_request.opened_at is None:
        services.record_card_link_opened(card_request=card_request, at=now)
    gateway = get_gateway()
    if not gateway.collects_card_in_page:
        return _card_link_in_page(request, token, card_request, gateway, card_limit, window)
    form = CardForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if ratelimit.is_blocked(CARD_SCOPE, card_request.token_hash, limit=card_limit):
            return _link_response(request, "billing/card_link_limited.html", {}, status=429)
        if form.is_valid():
            card = form.card()
            try:
                method = services.add_card_from_link(token=token, card=card)
            except services.CardLinkGone as gone:
                return _gone(request, gone.card_request, gone.state)
            except CardError as error:
                ratelimit.record_failure(CARD_SCOPE, card_request.token_hash, window=window)
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                return _link_response(
                    request,
                    "billing/card_link_done.html",
                    {"card_request": card_request, "method": method},
                )
    return _link_response(
        request,
        "billing/card_link.html",
        {
            "card_request": card_request,
            "form": form,
            "gateway": gateway,
        },
    )


def _in_page(response):
    response._csp_config = stripe_gateway.page_csp()
    return response


def _card_link_in_page(request, token, card_request, gateway, card_limit, window):
    """The card link when the processor's script takes the card in the page
    (Stripe.js): the page carries the setup's client secret; the script confirms
    the card with the processor and posts only the setup's id back."""
    error = ""
    if request.method == "POST":
        if ratelimit.is_blocked(CARD_SCOPE, card_request.token_hash, limit=card_limit):
            return _link_response(request, "billing/card_link_limited.html", {}, status=429)
        confirmation = str(request.POST.get("setup_intent") or "")[:100]
        try:
            method = services.add_card_from_link(token=token, confirmation=confirmation)
        except services.CardLinkGone as gone:
            return _gone(request, gone.card_request, gone.state)
        except CardError as refused:
            ratelimit.record_failure(CARD_SCOPE, card_request.token_hash, window=window)
            error = refused.message
        except GatewayError:
            error = "The card processor did not answer. Please try again in a minute."
        else:
            return _link_response(
                request,
                "billing/card_link_done.html",
                {"card_request": card_request, "method": method},
            )
    try:
        setup = services.card_setup_for_link(card_request=card_request)
    except GatewayError:
        return _in_page(
            _link_response(
                request,
                "billing/card_link.html",
                {"card_request": card_request, "gateway": gateway, "unavailable": True},
                status=503,
            )
        )
    return _in_page(
        _link_response(
            request,
            "billing/card_link.html",
            {
                "card_request": card_request,
                "gateway": gateway,
                "setup": setup,
                "error": error,
                "stripe_js_url": settings.STRIPE_JS_URL,
                "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            },
            status=400 if error else 200,
        )
    )


def _gone(request, card_request, state: str):
    return _link_response(
        request,
        "billing/card_link_gone.html",
        {
            "card_request": card_request,
            "state": state,
            "ttl_days": practices.current().card_link_days,
        },
        status=410,
    )


# --- the monthly billing run (staff) -----------------------------------------------------------


def _staff_only(request) -> None:
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can run the billing.")


def _run_context(request, period, *, error: str = "") -> dict:
    """The month's run: its drafts as prepared, or (not prepared yet) what it would
    bill. A fixed number of queries whatever the practice's size."""
    run = BillingRun.objects.filter(period_start=period).select_related("approved_by").first()
    if run is None or (run.status == BillingRun.Status.PREPARED and not run.invoices.exists()):
        drafts = runs.plan_month(period)
    else:
        drafts = runs.run_drafts(run)
    coming = runs.coming_period(timezone.localdate())
    return {
        "section": "billing",
        "period": period,
        "month_value": f"{period:%Y-%m}",
        "previous_month": f"{runs.previous_month(period):%Y-%m}",
        "next_month": f"{runs.next_month(period):%Y-%m}",
        "coming": coming,
        "run": run,
        "drafts": drafts,
        "flagged": sum(1 for draft in drafts if draft.flags),
        "totals": runs.totals_by_currency(drafts),
        "line_count": sum(len(draft.lines) for draft in drafts),
        "practice": practices.current(),
        "error": error,
        "fragment": is_fragment_request(request),
    }


@require_GET
def billing_run(request):
    """The Billing page: the coming run's preview (or the month asked for), its
    approval and, while it issues, its progress."""
    _staff_only(request)
    period = runs.parse_month(request.GET.get("month")) or runs.coming_period(timezone.localdate())
    part = "progress" if request.GET.get("part") == "progress" else "run"
    template = page_or_fragment(request, "billing/billing_run.html", part)
    return render(request, template, _run_context(request, period))


@require_POST
def billing_run_approve(request):
    """ "Approve": the month's drafts issued by the background task. Twice does one
    thing (the service returns the run already approved)."""
    _staff_only(request)
    period = runs.parse_month(request.POST.get("month"))
    if period is None:
        context = _run_context(
            request, runs.coming_period(timezone.localdate()), error="Choose a month to bill."
        )
        template = page_or_fragment(request, "billing/billing_run.html", "run")
        return render(request, template, context, status=400)
    try:
        run = services.runs.approve_run(period_start=period, actor=request.user)
    except BusinessRuleError as error:
        template = page_or_fragment(request, "billing/billing_run.html", "run")
        return render(request, template, _run_context(request, period, error=str(error)))
    if run.to_issue == 0 and run.status == BillingRun.Status.ISSUING:
        messages.info(request, f"Nothing to bill for {period:%B %Y}.")
    else:
        messages.success(request, f"{period:%B %Y} approved: its invoices are being issued.")
    url = f"{reverse('billing:run')}?month={period:%Y-%m}"
    if is_fragment_request(request):
        return HttpResponseLocation(url, target="#billing-run", swap="outerHTML")
    return redirect(url)


# --- the public pay link of an invoice -----------------------------------------------------------

PAY_IP_SCOPE = "pay-link-ip"
PAY_CARD_SCOPE = "pay-link-card"


def _pay_page(request, link, form, *, error: str = "", status: int = 200):
    invoice = link.invoice
    lines = list(invoice.lines.all())
    gateway = get_gateway()
    context = {
        "invoice": invoice,
        "lines": lines,
        "balance": selectors.balance_due(invoice),
        "form": form,
        "pay_error": error,
        "gateway": gateway,
    }
    if gateway.collects_card_in_page:
        return _link_response(request, "billing/pay_link.html", context, status=status)
    # Stripe.js takes the card in the page: the page carries the setup's secret
    try:
        context["setup"] = services.pay_setup_for_link(link=link)
    except GatewayError:
        context["unavailable"] = True
        status = 503
    context["stripe_js_url"] = settings.STRIPE_JS_URL
    context["stripe_publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
    return _in_page(_link_response(request, "billing/pay_link.html", context, status=status))


def _pay_form(data=None, **initial):
    """The card form of the pay page: the card itself (the simulated gateway), or
    only the SetupIntent Stripe.js confirmed (Stripe)."""
    form_class = PayForm if get_gateway().collects_card_in_page else StripePayForm
    return form_class(data, initial={"request_key": uuid.uuid4().hex, **initial})


def _pay_closed(request, invoice, *, just_paid=None):
    if invoice.status == Invoice.Status.PAID:
        return _link_response(
            request, "billing/pay_link_paid.html", {"invoice": invoice, "payment": just_paid}
        )
    return _link_response(request, "billing/pay_link_gone.html", {"invoice": invoice}, status=410)


@csrf_exempt  # as the card link: the token in the path is the authority (see card_link)
@login_not_required
@sensitive_post_parameters("number", "cvc")
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_variables("form", "card")
def pay_link(request, token: str):
    """An invoice's public page: see it and pay it by card. GET and HEAD change
    nothing; a paid invoice's link says so; void or closed: 410; unknown: 404
    (and counted against the address: 429 after a few)."""
    ip_limit, card_limit, window = settings.OPUS_CARD_LINK_LIMITS
    link = services.pay_link_for_token(token) if looks_like_token(token) else None
    if link is None:
        guesses = ratelimit.record_failure(PAY_IP_SCOPE, client_ip(request) or "", window=window)
        if guesses > ip_limit:
            return _link_response(request, "billing/card_link_limited.html", {}, status=429)
        return _link_response(request, "billing/card_link_unknown.html", {}, status=404)
    invoice = link.invoice
    if invoice.status != Invoice.Status.OPEN and request.method != "POST":
        return _pay_closed(request, invoice)
    if request.method != "POST":
        return _pay_page(request, link, _pay_form())
    if ratelimit.is_blocked(PAY_CARD_SCOPE, link.token_hash, limit=card_limit):
        return _link_response(request, "billing/card_link_limited.html", {}, status=429)
    form = _pay_form(request.POST)
    if not form.is_valid():
        return _pay_page(request, link, form)
    data = form.cleaned_data
    try:
        payment = services.pay_invoice_from_link(
            token=token,
            card=form.card() if isinstance(form, PayForm) else None,
            confirmation=data.get("setup_intent", ""),
            save_card=data["save_card"],
            request_key=data["request_key"],
        )
    except services.PayLinkClosed as closed:
        return _pay_closed(request, closed.invoice)
    except services.ChargeAwaitingConfirmation:
        # the payer's bank asks them to confirm: the confirmation page does it now
        confirmation = selectors.confirmation_of_request(
            invoice=invoice, request_key=data["request_key"]
        )
        confirm_token = confirmation_token_for(confirmation) if confirmation else None
        if confirm_token:
            return redirect("billing:payment-confirm", token=confirm_token)
        return _pay_page(request, link, form, error="Your bank asks you to confirm this payment.")
    except (services.CardDeclined, CardError) as error:
        ratelimit.record_failure(PAY_CARD_SCOPE, link.token_hash, window=window)
        message = (
            "Your card was declined. Nothing was charged: try another card."
            if isinstance(error, services.CardDeclined)
            else error.message
        )
        return _pay_page(request, link, _pay_form(name=data["name"]), error=message)
    except services.ChargePending as error:
        return _pay_page(request, link, form, error=error.message)
    except GatewayError:
        return _pay_page(
            request,
            link,
            form,
            error="The card processor did not answer. Please try again in a minute.",
        )
    except BusinessRuleError as error:
        return _pay_page(request, link, form, error=error.message)
    invoice.refresh_from_db()
    return _pay_closed(request, invoice, just_paid=payment)


# --- the payer confirms a charge their bank asks about (3-D Secure) -----------------------


@csrf_exempt
@login_not_required
@require_http_methods(["GET", "HEAD", "POST"])
def payment_confirm(request, token: str):
    """The emailed link of a charge awaiting the payer's confirmation: Stripe.js
    runs the bank's check in the page, then the page posts, and Opus asks Stripe
    what became of the payment (the webhook says the same, whichever comes first).
    GET changes nothing. Not CSRF-checked, as the card link: the token is the
    authority, no cookie is used."""
    ip_limit, _card_limit, window = settings.OPUS_CARD_LINK_LIMITS
    confirmation = selectors.confirmation_for_token(token)
    if confirmation is None:
        guesses = ratelimit.record_failure(IP_SCOPE, client_ip(request) or "", window=window)
        if guesses > ip_limit:
            return _link_response(request, "billing/card_link_limited.html", {}, status=429)
        return _link_response(request, "billing/card_link_unknown.html", {}, status=404)
    attempt = confirmation.attempt
    if request.method == "POST" and attempt.status == PaymentAttempt.Status.ACTION:
        # unanswered: the page asks again; the webhook or the reconciliation settles it
        with contextlib.suppress(GatewayError):
            attempt = services.settle_from_processor(
                attempt=attempt, note=" (confirmed through the emailed link)"
            )
    context = {"confirmation": confirmation, "attempt": attempt, "invoice": attempt.invoice}
    if attempt.status != PaymentAttempt.Status.ACTION or not confirmation.is_live_at(
        timezone.now()
    ):
        status = 200 if attempt.status == PaymentAttempt.Status.SUCCEEDED else 410
        return _link_response(request, "billing/payment_confirm_done.html", context, status=status)
    gateway = get_gateway()
    intent = None
    if hasattr(gateway, "retrieve_intent"):
        try:
            intent = gateway.retrieve_intent(attempt.gateway_reference)
        except GatewayError:
            intent = None
    return _in_page(
        _link_response(
            request,
            "billing/payment_confirm.html",
            {
                **context,
                "client_secret": getattr(intent, "client_secret", "") or "",
                "unavailable": intent is None,
                "checked": request.method == "POST",
                "stripe_js_url": settings.STRIPE_JS_URL,
                "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            },
            status=503 if intent is None else 200,
        )
    )


# --- the processor's webhook --------------------------------------------------------------


@csrf_exempt
@login_not_required
@require_POST
def stripe_webhook(request):
    """Stripe's events: the signature is checked against the endpoint's secret
    (a forged or altered event is refused with 400 and nothing is stored), each
    event is stored once by its id and handed to the worker. A duplicate answers
    200 and changes nothing."""
    try:
        payload = request.body
    except RawPostDataException:  # a form post (read already by a middleware): not Stripe
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    try:
        event = gateway_events.verify(
            payload=payload,
            signature=request.headers.get("Stripe-Signature", ""),
            secret=settings.STRIPE_WEBHOOK_SECRET,
        )
    except ValueError:
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    _row, created = gateway_events.store_event(event=event)
    return HttpResponse("stored" if created else "duplicate", status=200, content_type="text/plain")


# --- a payer's statement (staff) -----------------------------------------------------------------


def _statement_payer(request, client_id: int) -> Client:
    """404 when the user cannot see the client, 403 unless staff: a statement lists
    every practitioner's invoices."""
    client = _visible_client(request, client_id)
    if not can_manage_billing(request.user):
        raise PermissionDenied("Only staff can see a payer's statement.")
    return client


def _statement(request, client: Client, source) -> tuple[StatementForm, object]:
    form = StatementForm(source)
    start, end = form.dates(timezone.localdate())
    return form, statement_for(payer=client, start=start, end=end)


def _statement_query(statement) -> str:
    return urlencode({"start": statement.start.isoformat(), "end": statement.end.isoformat()})


@require_GET
def client_statement(request, client_id: int):
    """The payer's statement over a date range (in the address), printable, with a
    PDF and "Email statement"."""
    client = _statement_payer(request, client_id)
    form, statement = _statement(request, client, request.GET)
    template = page_or_fragment(request, "billing/statement.html", "results")
    response = render(
        request,
        template,
        {
            "client": client,
            "form": form,
            "statement": statement,
            "query": _statement_query(statement),
        },
    )
    response["Vary"] = "HX-Request"
    return response


@require_GET
def client_statement_pdf(request, client_id: int):
    client = _statement_payer(request, client_id)
    _form, statement = _statement(request, client, request.GET)
    response = HttpResponse(pdf.statement_pdf(statement), content_type=pdf.MIMETYPE)
    response["Content-Disposition"] = f'attachment; filename="{pdf.statement_filename(statement)}"'
    response["Cache-Control"] = "no-store, private"
    return response


@require_POST
def client_statement_email(request, client_id: int):
    """ "Email statement": queued through the outbox; the worker attaches the PDF."""
    client = _statement_payer(request, client_id)
    _form, statement = _statement(request, client, request.POST)
    try:
        services.email_statement(
            payer=client, start=statement.start, end=statement.end, actor=request.user
        )
    except BusinessRuleError as failure:
        messages.error(request, failure.message)
    else:
        messages.success(request, f"Statement emailed to {client.email}.")
    url = f"{reverse('billing:client-statement', args=[client.pk])}?{_statement_query(statement)}"
    if is_fragment_request(request):
        return HttpResponseLocation(url)
    return redirect(url)
