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


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    raw_id_fields = ("subscription", "booking")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("display_number", "payer", "status", "total", "currency", "issued_on", "due_on")
    list_filter = ("status",)
    raw_id_fields = ("payer", "relationship")
    inlines = [InvoiceLineInline]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("invoice", "amount", "currency", "method", "received_at")
    raw_id_fields = ("invoice", "payment_method")


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(admin.ModelAdmin):
    list_display = ("invoice", "amount", "currency", "status", "created_at", "settled_at")
    list_filter = ("status",)
    raw_id_fields = ("invoice", "payment_method", "payment")
    readonly_fields = ("idempotency_key", "request_key")


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    list_display = ("client", "brand", "last4", "exp_month", "exp_year", "removed_at")
    raw_id_fields = ("client",)
    readonly_fields = ("token",)


@admin.register(PaymentCardRequest)
class PaymentCardRequestAdmin(admin.ModelAdmin):
    list_display = ("client", "created_at", "expires_at", "sent_at", "used_at", "superseded_at")
    raw_id_fields = ("client", "relationship", "payment_method")
    exclude = ("nonce", "token_hash")


admin.site.register(InvoiceSequence)
