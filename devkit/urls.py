from django.urls import path

from devkit import views

# Included under dev/ by opus/urls.py, only where this app is installed (never in
# production). The names are global, like the project's other top-level pages.
urlpatterns = [
    path("mail/", views.mailbox, name="dev-mailbox"),
    path("mail/<int:mail_id>/", views.mail, name="dev-mail"),
    path("mail/<int:mail_id>/html/", views.mail_html, name="dev-mail-html"),
]
