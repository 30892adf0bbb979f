"""Billing writes: invoices, payments, cards on file, card requests.

Invoices are built as drafts line by line; issuing numbers them without gaps
(a counter row locked in the issuing transaction) and freezes them: from then
on a correction is a void and a new invoice (or a credit on the next one); the
one change an issued invoice accepts is a credit appended while it is open
(``credit_open_invoice``). The database refuses anything else too (migrations
0004 and 0005's triggers).

Amounts are rounded once, by ``opus.lib.money.round_money``, when a line is
written; totals are sums of rounded amounts and need no second rounding.
"""

from billing.consent import consent_text
from billing.gateway import CardDeclined, CardError, GatewayError
from billing.plans import invoice_totals
from billing.selectors import balance_due, card_on_file
from billing.services import runs
from billing.services.accounts import (
    ACCOUNT_CREDIT_REASON,
    apply_account_credit,
    apply_credits_oldest_first,
    grant_account_credit,
)
from billing.services.card_requests import (
    CardLinkGone,
    add_card_from_link,
    add_card_from_setup,
    card_setup_for_link,
    record_card_link_opened,
    request_payment_card,
    request_updates_for_expiring_cards,
    resend_payment_card_request,
)
from billing.services.collection import (
    PayLinkClosed,
    add_due_late_fees,
    add_late_fee,
    pay_invoice_from_link,
    pay_link_for_token,
    pay_setup_for_link,
    remind_invoice,
    run_autopay,
    run_due_autopay,
    send_due_reminders,
    set_autopay,
)
from billing.services.invoices import (
    add_charge,
    add_credit,
    add_discount,
    build_subscription_invoice,
    close_invoice,
    create_draft,
    credit_open_invoice,
    default_due_on,
    issue_invoice,
    next_invoice_number,
    save_plan,
    send_invoice,
    void_invoice,
)
from billing.services.moved_sessions import PaidBack, bill_attendee, settle_old_payer
from billing.services.payments import (
    MANUAL_METHODS,
    RECONCILE_AFTER,
    ChargeAwaitingConfirmation,
    ChargePending,
    charge_card,
    reconcile_payment_attempts,
    record_payment,
    run_card_attempt,
    settle_from_processor,
    start_card_attempt,
)
from billing.services.refunds import (
    MANUAL_REFUND_METHODS,
    RefundPending,
    RefundRefused,
    reconcile_refunds,
    refund_account_credit,
    refund_payment,
    run_refund,
    start_refund,
)
from billing.services.statements import email_statement

__all__ = [  # the API other apps call
    "ACCOUNT_CREDIT_REASON",
    "MANUAL_METHODS",
    "MANUAL_REFUND_METHODS",
    "RECONCILE_AFTER",
    "CardDeclined",
    "CardError",
    "CardLinkGone",
    "ChargeAwaitingConfirmation",
    "ChargePending",
    "GatewayError",
    "PaidBack",
    "PayLinkClosed",
    "RefundPending",
    "RefundRefused",
    "add_card_from_link",
    "add_card_from_setup",
    "add_charge",
    "add_credit",
    "add_discount",
    "add_due_late_fees",
    "add_late_fee",
    "apply_account_credit",
    "apply_credits_oldest_first",
    "balance_due",
    "bill_attendee",
    "build_subscription_invoice",
    "card_on_file",
    "card_setup_for_link",
    "charge_card",
    "close_invoice",
    "consent_text",
    "create_draft",
    "credit_open_invoice",
    "default_due_on",
    "email_statement",
    "grant_account_credit",
    "invoice_totals",
    "issue_invoice",
    "next_invoice_number",
    "pay_invoice_from_link",
    "pay_link_for_token",
    "pay_setup_for_link",
    "reconcile_payment_attempts",
    "reconcile_refunds",
    "record_card_link_opened",
    "record_payment",
    "refund_account_credit",
    "refund_payment",
    "remind_invoice",
    "request_payment_card",
    "request_updates_for_expiring_cards",
    "resend_payment_card_request",
    "run_autopay",
    "run_card_attempt",
    "run_due_autopay",
    "run_refund",
    "runs",
    "save_plan",
    "send_due_reminders",
    "send_invoice",
    "set_autopay",
    "settle_from_processor",
    "settle_old_payer",
    "start_card_attempt",
    "start_refund",
    "void_invoice",
]
