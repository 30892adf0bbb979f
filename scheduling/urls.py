from django.urls import path

from scheduling import transfer_views, views

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
    path("transfer/start/", transfer_views.transfer_start, name="transfer-start"),
    path(
        "transfer/<uuid:draft_id>/discount/",
        transfer_views.transfer_discount,
        name="transfer-discount",
    ),
    path(
        "transfer/<uuid:draft_id>/discount/<int:index>/remove/",
        transfer_views.transfer_discount_remove,
        name="transfer-discount-remove",
    ),
    path(
        "transfer/<uuid:draft_id>/credit/", transfer_views.transfer_credit, name="transfer-credit"
    ),
    path(
        "transfer/<uuid:draft_id>/finish/", transfer_views.transfer_finish, name="transfer-finish"
    ),
    path(
        "transfer/<uuid:draft_id>/<slug:step>/", transfer_views.transfer_step, name="transfer-step"
    ),
]
