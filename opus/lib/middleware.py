import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

_STARTED = "_opus_started"
_SEEN = "_opus_seen"
_TOUCH_EVERY = 60  # seconds: do not write the session on every request


class SessionTimeoutMiddleware:
    """Logs a user out after 30 idle minutes or 12 hours since login."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            session = request.session
            started = session.get(_STARTED)
            seen = session.get(_SEEN)
            if started is None:
                session[_STARTED] = session[_SEEN] = now
            elif (
                now - started > settings.SESSION_ABSOLUTE_TIMEOUT.total_seconds()
                or now - (seen or started) > settings.SESSION_IDLE_TIMEOUT.total_seconds()
            ):
                logout(request)
            elif now - (seen or 0) > _TOUCH_EVERY:
                session[_SEEN] = now
        return self.get_response(request)


class PrivateCacheMiddleware:
    """Pages shown to a logged-in user are never stored by a browser or proxy, and
    every response says it varies with HX-Request (one URL, two renderings)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, private"
        patch_vary_headers(response, ["HX-Request"])
        return response


class HtmxLoginRedirectMiddleware:
    """A fragment requested after the session ended (timed out, or logged out in
    another tab) would swap the login page into a panel. htmx is told instead to
    open the login page in full, and to come back afterwards to the page the user
    was on (HX-Current-URL), not to the fragment's own URL."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or response.status_code != 302:
            return response
        login = resolve_url(settings.LOGIN_URL)
        target = urlsplit(response["Location"])
        if target.path != login or "next=" not in target.query:  # not a login-required stop
            return response
        current = request.headers.get("HX-Current-URL", "")
        if url_has_allowed_host_and_scheme(
            current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            page = urlsplit(current)
            back = page.path + (f"?{page.query}" if page.query else "")
        else:
            back = request.get_full_path()
        return HttpResponseClientRedirect(f"{login}?{urlencode({'next': back})}")
