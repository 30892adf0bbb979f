from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from opus import views
from opus.forms import LoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChange.as_view(), name="password_change"),
    path(
        "password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    path("healthz", views.healthz, name="healthz"),
    path("dev/mail/", views.dev_mailbox, name="dev-mailbox"),
    path("dev/mail/<int:mail_id>/", views.dev_mail, name="dev-mail"),
    path("dev/mail/<int:mail_id>/html/", views.dev_mail_html, name="dev-mail-html"),
    path("schedule/", include("scheduling.urls")),
    path("clients/", include("clients.urls")),
    path("relationships/", include("relationships.urls")),
    path("", include("billing.urls")),
    path("admin/", admin.site.urls),
]
