"""The front desk's pages. They live in the URL spaces of the things they are
about (``/schedule/transfer/...``, ``/clients/<id>/``, ``/relationships/<id>/``):
``opus/urls.py`` adds each list to that space's namespace, so a page keeps its
address and name whichever app serves it."""

from django.urls import path

from frontdesk import (
    client_views,
    enrolment_views,
    import_views,
    relationship_views,
    team_views,
    transfer_views,
)

schedule_urls = [
    path(
        "dates/<int:session_date_id>/add-client/",
        enrolment_views.add_client,
        name="add-client",
    ),
    path("dates/<int:session_date_id>/book-once/", enrolment_views.book_once, name="book-once"),
    path(
        "subscriptions/<int:subscription_id>/withdraw/", enrolment_views.withdraw, name="withdraw"
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

relationship_urls = [
    path("<int:pk>/", relationship_views.relationship_detail, name="detail"),
    path("<int:pk>/booking-panel/", relationship_views.booking_panel, name="booking-panel"),
    path("<int:pk>/migrate/", relationship_views.migrate_start, name="migrate"),
    path("<int:pk>/migrate/details/", relationship_views.migrate_details, name="migrate-details"),
    path("<int:pk>/create-session/", relationship_views.create_session, name="create-session"),
    path("<int:pk>/rebook/", relationship_views.rebook, name="rebook"),
    path("<int:pk>/end/", relationship_views.end_relationship, name="end"),
]

client_urls = [
    path("add/", client_views.client_add, name="add"),
    path("<int:client_id>/", client_views.client_detail, name="detail"),
    path("<int:client_id>/delete/", client_views.client_delete, name="delete"),
    path(
        "<int:client_id>/relationships/new/",
        client_views.relationship_new,
        name="relationship-new",
    ),
    path("<int:client_id>/enrol/", enrolment_views.enrol, name="enrol"),
    # importing from another product (staff only): frontdesk/import_views.py
    path("import/", import_views.import_start, name="import"),
    path("import/example/", import_views.import_example, name="import-example"),
    path("import/<uuid:job_id>/", import_views.import_job, name="import-job"),
    path("import/<uuid:job_id>/confirm/", import_views.import_confirm, name="import-confirm"),
]

# The Team page (staff only): /team/, in the "team" namespace.
team_urls = [
    path("", team_views.team_list, name="list"),
    path("invite/", team_views.team_invite, name="invite"),
    path("<int:user_id>/", team_views.member_detail, name="member"),
    path("<int:user_id>/role/", team_views.member_role, name="role"),
    path("<int:user_id>/deactivate/", team_views.member_deactivate, name="deactivate"),
    path("<int:user_id>/reactivate/", team_views.member_reactivate, name="reactivate"),
    path("<int:user_id>/resend/", team_views.member_resend, name="resend"),
]
