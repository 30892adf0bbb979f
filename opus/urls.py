from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

import clients.urls
import frontdesk.urls
import relationships.urls
import scheduling.urls
from frontdesk import home_views
from opus import invitation_views, password_reset, practice_views, two_factor_views, views


def space(app_urls, *frontdesk_urls):
    """An app's URL space and namespace, with the front desk's pages about it."""
    patterns = [*app_urls.urlpatterns, *(p for urls in frontdesk_urls for p in urls)]
    return include((patterns, app_urls.app_name))


urlpatterns = [
    path("", home_views.today, name="home"),
    path("search/", home_views.search, name="search"),
    path("login/", views.Login.as_view(), name="login"),
    path("login/code/", two_factor_views.login_code, name="login-code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChange.as_view(), name="password_change"),
    path(
        "password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    path("password/reset/", password_reset.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        password_reset.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        password_reset.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        password_reset.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "invitation/<str:token>/",
        invitation_views.accept_invitation,
        name="accept-invitation",
    ),
    path("team/", include((frontdesk.urls.team_urls, "team"))),
    path("account/two-factor/", two_factor_views.setup, name="two-factor"),
    path(
        "account/two-factor/backup-codes/",
        two_factor_views.backup_codes,
        name="two-factor-backup-codes",
    ),
    path("account/two-factor/off/", two_factor_views.turn_off, name="two-factor-off"),
    path("healthz", views.healthz, name="healthz"),
    path("practice/", practice_views.practice_settings, name="practice-settings"),
    path("schedule/", space(scheduling.urls, frontdesk.urls.schedule_urls)),
    path("clients/", space(clients.urls, frontdesk.urls.client_urls)),
    path("relationships/", space(relationships.urls, frontdesk.urls.relationship_urls)),
    path("", include("billing.urls")),
    path("reports/", include("reports.urls")),
    path("admin/login/", views.admin_login, name="admin-login"),  # before the admin's own
    path("admin/", admin.site.urls),
]
# The development kit's pages (the sent-mail box): never installed in production.
if apps.is_installed("devkit"):
    urlpatterns.append(path("dev/", include("devkit.urls")))
