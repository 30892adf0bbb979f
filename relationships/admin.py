from django.contrib import admin

from relationships.models import Relationship, RelationshipMigration


@admin.register(Relationship)
class RelationshipAdmin(admin.ModelAdmin):
    list_display = ("attendee", "kind", "payer", "practitioner", "status", "started_on", "ended_on")
    list_filter = ("kind", "status")
    raw_id_fields = ("payer", "attendee", "replaced_by", "created_by")
    list_select_related = ("payer", "attendee", "practitioner")


@admin.register(RelationshipMigration)
class RelationshipMigrationAdmin(admin.ModelAdmin):
    list_display = ("old_relationship", "status", "requested_by", "confirmed_by", "confirmed_at")
    raw_id_fields = ("old_relationship", "new_relationship")
