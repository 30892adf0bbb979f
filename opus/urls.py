from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from opus import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.Login.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChange.as_view(), name="password_change"),
    path(
        "password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    path("healthz", views.healthz, name="healthz"),
    path("schedule/", include("scheduling.urls")),
    path("clients/", include("clients.urls")),
    path("relationships/", include("relationships.urls")),
    path("", include("billing.urls")),
    path("admin/login/", views.admin_login, name="admin-login"),  # before the admin's own
    path("admin/", admin.site.urls),
]
# The development kit's pages (the sent-mail box): never installed in production.
if apps.is_installed("devkit"):
    urlpatterns.append(path("dev/", include("devkit.urls")))
