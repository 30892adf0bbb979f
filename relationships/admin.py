from django.contrib import admin

from clients.admin import ClientHistoryAdmin
from relationships.models import Relationship, RelationshipMigration


@admin.register(Relationship)
class RelationshipAdmin(ClientHistoryAdmin):
    list_display = ("attendee", "kind", "payer", "practitioner", "status", "started_on", "ended_on")
    list_filter = ("kind", "status")
    raw_id_fields = ("payer", "attendee", "replaced_by", "created_by")
    list_select_related = ("payer", "attendee", "practitioner")

    def clients_concerned(self, obj):
        return [obj.attendee, obj.payer]

    def practitioners_concerned(self, obj):
        return {obj.practitioner_id}


@admin.register(RelationshipMigration)
class RelationshipMigrationAdmin(ClientHistoryAdmin):
    list_display = ("old_relationship", "status", "requested_by", "confirmed_by", "confirmed_at")
    raw_id_fields = ("old_relationship", "new_relationship")

    def clients_concerned(self, obj):
        old = obj.old_relationship
        return [old.attendee, old.payer]

    def practitioners_concerned(self, obj):
        return {obj.old_relationship.practitioner_id}
