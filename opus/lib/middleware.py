import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.http import QueryDict
from django.shortcuts import resolve_url
from django.urls import resolve, reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from opus.lib.parsing import CONTROL_CHARACTERS, without_controls

_STARTED = "_opus_started"
_SEEN = "_opus_seen"
_TOUCH_EVERY = 60  # seconds: do not write the session on every request


def not_activity(view):
    """Marks a view that a page polls by itself: its requests are not the user's
    activity, so they never extend the idle timeout (an open page would keep its
    session alive forever), though they do end a session that timed out."""
    view.session_activity = False
    return view


class SessionTimeoutMiddleware:
    """Logs a user out after 30 idle minutes or 12 hours since login."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
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
        elif now - (seen or 0) > _TOUCH_EVERY and getattr(view_func, "session_activity", True):
            session[_SEEN] = now
        return None


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


class LoginRedirectMiddleware:
    """Where the login page sends the user back to, once the session has ended
    (timed out, or logged out in another tab):

    - a fragment (htmx) would swap the login page into a panel: htmx is told to
      open it in full instead (HX-Redirect), and to come back to the page the user
      was on (HX-Current-URL), not to the fragment's own URL;
    - a form posted (a POST-only URL such as starting a transfer) would come back
      as a GET, refused with 405: the user comes back to the page the form was on
      (Referer) and submits it again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 302:
            return response
        login = resolve_url(settings.LOGIN_URL)
        target = urlsplit(response["Location"])
        if target.path != login or "next=" not in target.query:  # not a login-required stop
            return response
        htmx = request.headers.get("HX-Request") == "true"
        if htmx:
            back = self._same_site_path(request, request.headers.get("HX-Current-URL", ""))
            return HttpResponseClientRedirect(
                f"{login}?{urlencode({'next': back or request.get_full_path()})}"
            )
        if request.method not in ("GET", "HEAD"):
            back = self._same_site_path(request, request.headers.get("Referer", ""))
            response["Location"] = f"{login}?{urlencode({'next': back})}" if back else login
        return response

    @staticmethod
    def _same_site_path(request, url: str) -> str:
        """The path and query of ``url`` if it is on this site, else ''."""
        if not url or not url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return ""
        page = urlsplit(url)
        return page.path + (f"?{page.query}" if page.query else "")


class HealthCheckMiddleware:
    """Answers the health check before the session and the user are read: a probe,
    or a browser with a session cookie, gets the health check's own answer (503
    with what is down) even when the database that holds the sessions is down.
    Placed before the session middleware."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.path = reverse("healthz")
        self.view = resolve(self.path).func

    def __call__(self, request):
        if request.path == self.path:
            return self.view(request)
        return self.get_response(request)


class ControlCharactersMiddleware:
    """Every query parameter and form field (names and values) arrives without
    control characters other than tab and newlines, whichever view reads it: a
    form, or ``request.GET.get`` on its way to a query.

    Dropped rather than refused: they are invisible, no one means them (a paste
    can carry one), and refusing would lose what the user typed around them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.GET = _without_controls(request.GET)
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            request.POST = _without_controls(request.POST)
        return self.get_response(request)


def _without_controls(data: QueryDict) -> QueryDict:
    if not any(CONTROL_CHARACTERS.search(key + "".join(values)) for key, values in data.lists()):
        return data
    pairs = [
        (without_controls(key), without_controls(value))
        for key, values in data.lists()
        for value in values
    ]
    return QueryDict(urlencode(pairs, encoding=data.encoding), encoding=data.encoding)
