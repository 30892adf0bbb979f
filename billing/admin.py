from django.contrib import admin

from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    Payment,
    PaymentAttempt,
    PaymentCardRequest,
    PaymentMethod,
)
from billing.selectors import invoice_practitioners
from clients.admin import ClientHistoryAdmin
from opus.lib.admin import ReadOnlyAdminMixin


def is_draft(invoice) -> bool:
    return invoice is not None and invoice.status == Invoice.Status.DRAFT


class InvoiceLineInline(admin.TabularInline):
    """A draft's lines may be edited; an issued invoice's are read-only."""

    model = InvoiceLine
    extra = 0
    raw_id_fields = ("subscription", "booking")

    def has_add_permission(self, request, obj=None) -> bool:
        return is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_draft(obj) and super().has_delete_permission(request, obj)


@admin.register(Invoice)
class InvoiceAdmin(ClientHistoryAdmin):
    """An issued invoice (any status but draft) is read-only; a draft may be edited,
    but not issued, numbered or moved to another payer here: issuing takes the next
    number of the gapless series (billing.services). No invoice is added or deleted
    in the admin."""

    list_display = ("display_number", "payer", "status", "total", "currency", "issued_on", "due_on")
    list_filter = ("status",)
    raw_id_fields = ("payer", "relationship")
    inlines = [InvoiceLineInline]
    draft_readonly_fields = (
        "number",
        "payer",
        "currency",
        "status",
        "issued_on",
        "status_changed_at",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self.draft_readonly_fields)

    def clients_concerned(self, obj):
        return [obj.payer]

    def practitioners_concerned(self, obj):
        return invoice_practitioners(obj)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("invoice", "amount", "currency", "method", "received_at")
    raw_id_fields = ("invoice", "payment_method")


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The record of a charge at the processor: read-only, like the payment."""

    list_display = ("invoice", "amount", "currency", "status", "created_at", "settled_at")
    list_filter = ("status",)
    raw_id_fields = ("invoice", "payment_method", "payment")
    readonly_fields = ("idempotency_key", "request_key")


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ClientHistoryAdmin):
    list_display = ("client", "brand", "last4", "exp_month", "exp_year", "removed_at")
    raw_id_fields = ("client",)
    readonly_fields = ("token",)

    def clients_concerned(self, obj):
        return [obj.client]


@admin.register(PaymentCardRequest)
class PaymentCardRequestAdmin(ClientHistoryAdmin):
    list_display = ("client", "created_at", "expires_at", "sent_at", "used_at", "superseded_at")
    raw_id_fields = ("client", "relationship", "payment_method")
    exclude = ("nonce", "token_hash")

    def clients_concerned(self, obj):
        return [obj.client]


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The gapless number series: only issuing an invoice moves it."""

    list_display = ("name", "last_number")
