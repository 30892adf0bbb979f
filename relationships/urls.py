from django.urls import path

from relationships import views

app_name = "relationships"

urlpatterns = [
    path("", views.relationship_list, name="list"),
    path("<int:pk>/", views.relationship_detail, name="detail"),
    path("<int:pk>/booking-panel/", views.booking_panel, name="booking-panel"),
    path("<int:pk>/migrate/", views.migrate_start, name="migrate"),
    path("<int:pk>/migrate/details/", views.migrate_details, name="migrate-details"),
    path("<int:pk>/create-session/", views.create_session, name="create-session"),
    path("<int:pk>/rebook/", views.rebook, name="rebook"),
]
