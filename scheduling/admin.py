from django.contrib import admin

from clients.admin import ClientHistoryAdmin
from scheduling.models import (
    Booking,
    DateAbsence,
    Room,
    Service,
    Session,
    SessionDate,
    Subscription,
)

admin.site.register(Room)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "billing_basis", "price", "currency", "sessions_per_month", "is_active")


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("service", "weekday", "start_time", "practitioner", "room", "capacity")
    list_filter = ("weekday", "practitioner", "service")
    list_select_related = ("service", "practitioner", "room")


@admin.register(SessionDate)
class SessionDateAdmin(admin.ModelAdmin):
    list_display = ("session", "date", "starts_at", "cancelled")
    list_filter = ("cancelled",)
    date_hierarchy = "date"
    raw_id_fields = ("session",)
    list_select_related = ("session__service",)


@admin.register(Subscription)
class SubscriptionAdmin(ClientHistoryAdmin):
    list_display = ("client", "session", "first_date", "end_date", "price")
    raw_id_fields = ("client", "session", "relationship", "created_by")
    list_select_related = ("client", "session__service")

    def clients_concerned(self, obj):
        return [obj.client, obj.relationship.payer]

    def practitioners_concerned(self, obj):
        return {obj.session.practitioner_id}


@admin.register(Booking)
class BookingAdmin(ClientHistoryAdmin):
    list_display = ("client", "session_date", "status", "price")
    raw_id_fields = ("client", "session_date", "relationship", "rebooked_as", "created_by")

    def clients_concerned(self, obj):
        return [obj.client, obj.relationship.payer]

    def practitioners_concerned(self, obj):
        return {obj.session_date.session.practitioner_id}


@admin.register(DateAbsence)
class DateAbsenceAdmin(ClientHistoryAdmin):
    raw_id_fields = ("subscription", "session_date")

    def clients_concerned(self, obj):
        return [obj.subscription.client]

    def practitioners_concerned(self, obj):
        return {obj.session_date.session.practitioner_id}
