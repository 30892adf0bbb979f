"""The Django admin's rules, for every app's admin.py.

The admin stays for superusers, but it bypasses the services: what is money or
history (issued invoices, payments, the invoice counter, a client's history) is
read-only there, and every change it makes leaves a history row besides Django's
LogEntry. The apps say what a row of theirs is about (``AdminHistoryMixin.record_admin_change``):
opus imports no app.
"""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """Shown, never added, changed or deleted in the admin: a POST to its add,
    change or delete page is refused (403) by the admin itself."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def change_summary(message) -> str:
    """The changed fields (and inline rows) named in a change message of the admin
    (``ModelAdmin.construct_change_message``), in a line: "Email, Phone"."""
    if isinstance(message, str):
        return message
    parts: list[str] = []
    for entry in message or []:
        for verb, detail in entry.items():
            fields = ", ".join(detail.get("fields", []))
            if "name" in detail:  # an inline row
                what = f"{detail['name']} {detail.get('object', '')}".strip()
                parts.append(f"{what} {verb}" + (f" ({fields})" if fields else ""))
            elif fields:
                parts.append(fields)
    return "; ".join(parts)


class AdminHistoryMixin:
    """Every addition, change and deletion made in the admin is also told to
    ``record_admin_change(request, obj, action, details)`` (action: "Added",
    "Changed" or "Deleted"; details: what changed), inside the admin's
    transaction, next to Django's LogEntry. A save that changed nothing is not told."""

    def record_admin_change(self, request, obj, action: str, details: str) -> None:
        """Write the history row of ``obj``'s app; nothing by default."""

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        self.record_admin_change(request, obj, "Added", str(obj))
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        details = change_summary(message)
        if details:
            self.record_admin_change(request, obj, "Changed", details)
        return entry

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self.record_admin_change(request, obj, "Deleted", str(obj))
        return super().log_deletions(request, queryset)  # type: ignore[misc]
