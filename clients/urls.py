from django.urls import path

from clients import exports, views

app_name = "clients"

urlpatterns = [
    path("", views.client_list, name="list"),
    path("export.csv", exports.client_export, name="export"),
]
