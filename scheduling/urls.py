from django.urls import path

from scheduling import closure_views, views

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
    path("dates/<int:session_date_id>/cancel/", closure_views.date_cancel, name="date-cancel"),
    path("dates/<int:session_date_id>/reopen/", closure_views.date_reopen, name="date-reopen"),
    path("closures/", closure_views.closure_list, name="closures"),
    path("closures/new/", closure_views.closure_new, name="closure-new"),
    path("closures/confirm/", closure_views.closure_confirm, name="closure-confirm"),
    path("closures/<int:closure_id>/undo/", closure_views.closure_undo, name="closure-undo"),
]
