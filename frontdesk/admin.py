from django.contrib import admin

from frontdesk.models import Transfer
from opus.lib.admin import ReadOnlyAdminMixin


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The record of a transfer is history: read-only."""

    list_display = ("from_subscription", "to_subscription", "transfer_date", "created_at")
    raw_id_fields = ("from_subscription", "to_subscription", "invoice")
