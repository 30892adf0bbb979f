from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from opus.models import OutboundEmail, User, WorkerHeartbeat


@admin.register(User)
class OpusUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Practice", {"fields": ("role",)}))
    list_display = ("username", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active")


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("template", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "template")
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]


admin.site.register(WorkerHeartbeat)
