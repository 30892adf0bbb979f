from django.urls import path

from scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.schedule, name="schedule"),
    path("dates/<int:session_date_id>/", views.session_date, name="session-date"),
    path(
        "dates/<int:session_date_id>/roster/<int:subscription_id>/unenroll/",
        views.unenroll,
        name="unenroll",
    ),
    path(
        "dates/<int:session_date_id>/roster/<int:subscription_id>/undo/",
        views.undo_unenroll,
        name="undo-unenroll",
    ),
]
