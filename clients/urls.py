from django.urls import path

from clients import exports, views

app_name = "clients"

urlpatterns = [
    path("", views.client_list, name="list"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("pick/", views.pick, name="pick"),
    path("<int:client_id>/archive/", views.archive, name="archive"),
    path("<int:client_id>/restore/", views.restore, name="restore"),
    path("export.csv", exports.client_export, name="export"),
]
