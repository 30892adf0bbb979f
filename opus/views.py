import logging

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from opus.celery import app
from opus.forms import LoginForm
from opus.models import WorkerHeartbeat
from opus.two_factor import has_two_factor
from opus.two_factor_views import start_second_step

logger = logging.getLogger(__name__)


class Login(auth_views.LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        """With two-factor authentication, the right password leads to the code."""
        user = form.get_user()
        if has_two_factor(user):
            return start_second_step(self.request, user, user.backend, self.get_success_url())
        return super().form_valid(form)


class PasswordChange(auth_views.PasswordChangeView):
    """Django keeps this session and ends every other one: the password hash is
    part of each session's auth hash."""

    success_url = reverse_lazy("password_change_done")


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """Database and broker reachability, and how long ago a worker ran a task."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        logger.exception("health check: database unreachable")
        checks["database"] = "unavailable"
    checks["broker"] = _broker_status()
    beat = (
        WorkerHeartbeat.objects.filter(name="worker").first()
        if checks["database"] == "ok"
        else None
    )
    checks["worker_last_seen_seconds"] = (
        round((timezone.now() - beat.beat_at).total_seconds()) if beat else None
    )
    healthy = checks["database"] == "ok" and checks["broker"] == "ok"
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )


@login_not_required
@never_cache
def admin_login(request):
    """The Django admin has no login form of its own: everyone logs in through the
    product's login (its lockout, messages and session rules) and comes back."""
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect_to_login(target)
    if not admin.site.has_permission(request):
        raise PermissionDenied  # logged in, not an admin: the login would send them back here
    return redirect(target)


def _broker_status() -> str:

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
        return "ok"
    except Exception:
        logger.warning("health check: broker unreachable")
        return "unavailable"
