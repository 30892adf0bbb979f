from django.contrib import admin

from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.admin import AdminHistoryMixin, ReadOnlyAdminMixin


class ClientHistoryAdmin(AdminHistoryMixin, admin.ModelAdmin):
    """A model about one or more clients: every change made in the admin is also a
    line of their history ("Changed in the admin by alice: Email"), visible to whoever
    sees the client and the sessions it is about (``practitioners_concerned``)."""

    def clients_concerned(self, obj) -> list[Client]:
        raise NotImplementedError

    def practitioners_concerned(self, obj) -> set[int]:
        """The practitioners whose sessions ``obj`` is about (none: everyone who sees
        the client sees the line)."""
        return set()

    def record_admin_change(self, request, obj, action: str, details: str) -> None:
        who = request.user.get_username()
        what = obj._meta.verbose_name
        practitioners = self.practitioners_concerned(obj)
        seen: set[int] = set()
        for client in self.clients_concerned(obj):
            if client is None or client.pk in seen:
                continue
            seen.add(client.pk)
            record_event(
                client=client,
                kind=ClientEvent.Kind.UPDATED,
                summary=f"{action} in the admin by {who}: {what}: {details}",
                actor=request.user,
                practitioners=practitioners,
            )


@admin.register(Client)
class ClientAdmin(ClientHistoryAdmin):
    list_display = ("last_name", "first_name", "email", "phone", "date_of_birth")
    search_fields = ("first_name", "last_name", "email", "phone")

    def clients_concerned(self, obj):
        return [obj]

    def has_delete_permission(self, request, obj=None) -> bool:
        """A client with history (or money: invoices protect their payer) is never
        deleted; one with none may be, one at a time."""
        if obj is None or obj.events.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(ClientEvent)
class ClientEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("client", "kind", "summary", "actor", "created_at")
    list_filter = ("kind",)
    list_select_related = ("client", "actor")
