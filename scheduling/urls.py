from django.urls import path

from scheduling import closure_views, views
from scheduling import setup_views as setup

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
    path(
        "dates/<int:session_date_id>/attendance/<int:client_id>/",
        views.mark,
        name="attendance-mark",
    ),
    path(
        "dates/<int:session_date_id>/attendance/all-present/",
        views.all_present,
        name="attendance-all-present",
    ),
    # the practice's setup (staff only)
    path("setup/", setup.sessions, name="setup-sessions"),
    path("setup/sessions/new/", setup.session_new, name="setup-session-new"),
    path("setup/sessions/<int:session_id>/", setup.session_detail, name="setup-session"),
    path("setup/sessions/<int:session_id>/edit/", setup.session_edit, name="setup-session-edit"),
    path("setup/sessions/<int:session_id>/end/", setup.session_end, name="setup-session-end"),
    path("setup/services/", setup.services, name="setup-services"),
    path("setup/services/new/", setup.service_new, name="setup-service-new"),
    path("setup/services/<int:service_id>/", setup.service_edit, name="setup-service-edit"),
    path(
        "setup/services/<int:service_id>/active/", setup.service_active, name="setup-service-active"
    ),
    path("setup/rooms/", setup.rooms, name="setup-rooms"),
    path("setup/rooms/new/", setup.room_new, name="setup-room-new"),
    path("setup/rooms/<int:room_id>/", setup.room_edit, name="setup-room-edit"),
    path("setup/rooms/<int:room_id>/active/", setup.room_active, name="setup-room-active"),
    path("dates/<int:session_date_id>/cancel/", closure_views.date_cancel, name="date-cancel"),
    path("dates/<int:session_date_id>/reopen/", closure_views.date_reopen, name="date-reopen"),
    path("closures/", closure_views.closure_list, name="closures"),
    path("closures/new/", closure_views.closure_new, name="closure-new"),
    path("closures/confirm/", closure_views.closure_confirm, name="closure-confirm"),
    path("closures/<int:closure_id>/undo/", closure_views.closure_undo, name="closure-undo"),
]
