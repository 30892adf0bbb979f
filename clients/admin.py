from django.contrib import admin

from clients.models import Client, ClientEvent


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("last_name", "first_name", "email", "phone", "date_of_birth")
    search_fields = ("first_name", "last_name", "email", "phone")


@admin.register(ClientEvent)
class ClientEventAdmin(admin.ModelAdmin):
    list_display = ("client", "kind", "summary", "actor", "created_at")
    list_filter = ("kind",)
    list_select_related = ("client", "actor")
