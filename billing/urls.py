from django.urls import path

from billing import exports, views

app_name = "billing"

# Included at the site's root: staff pages live under billing/, the client's
# card link at /card/<token>/ (the path the log redaction filter knows).
urlpatterns = [
    path("billing/invoices/", views.invoice_list, name="invoice-list"),
    path("billing/run/", views.billing_run, name="run"),
    path("billing/run/approve/", views.billing_run_approve, name="run-approve"),
    path("billing/invoices/export.csv", exports.invoice_export, name="invoice-export"),
    path("billing/payments/export.csv", exports.payment_export, name="payment-export"),
    path("billing/invoices/<int:invoice_id>/", views.invoice_detail, name="invoice-detail"),
    path("billing/invoices/<int:invoice_id>/pdf/", views.invoice_pdf_download, name="invoice-pdf"),
    path("billing/invoices/<int:invoice_id>/issue/", views.invoice_issue, name="invoice-issue"),
    path(
        "billing/invoices/<int:invoice_id>/payments/",
        views.invoice_record_payment,
        name="invoice-record-payment",
    ),
    path(
        "billing/invoices/<int:invoice_id>/charge/",
        views.invoice_charge_card,
        name="invoice-charge-card",
    ),
    path(
        "billing/invoices/<int:invoice_id>/apply-credit/",
        views.invoice_apply_credit,
        name="invoice-apply-credit",
    ),
    path("billing/invoices/<int:invoice_id>/refund/", views.invoice_refund, name="invoice-refund"),
    path("billing/clients/<int:client_id>/account/", views.client_account, name="client-account"),
    path(
        "billing/clients/<int:client_id>/account/credit/",
        views.account_credit_add,
        name="account-credit-add",
    ),
    path(
        "billing/clients/<int:client_id>/statement/",
        views.client_statement,
        name="client-statement",
    ),
    path(
        "billing/clients/<int:client_id>/statement/pdf/",
        views.client_statement_pdf,
        name="client-statement-pdf",
    ),
    path(
        "billing/clients/<int:client_id>/statement/email/",
        views.client_statement_email,
        name="client-statement-email",
    ),
    path("billing/invoices/<int:invoice_id>/send/", views.invoice_send, name="invoice-send"),
    path("billing/invoices/<int:invoice_id>/void/", views.invoice_void, name="invoice-void"),
    path("billing/invoices/<int:invoice_id>/close/", views.invoice_close, name="invoice-close"),
    path("billing/clients/<int:client_id>/cards/", views.client_cards, name="client-cards"),
    path(
        "billing/clients/<int:client_id>/card-requests/",
        views.card_request_create,
        name="card-request-create",
    ),
    path(
        "billing/clients/<int:client_id>/autopay/",
        views.client_autopay,
        name="client-autopay",
    ),
    path(
        "billing/card-requests/<int:request_id>/resend/",
        views.card_request_resend,
        name="card-request-resend",
    ),
    path("card/<str:token>/", views.card_link, name="card-link"),
    path("pay/<str:token>/", views.pay_link, name="pay-link"),
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
    path("pay/confirm/<str:token>/", views.payment_confirm, name="payment-confirm"),
]
