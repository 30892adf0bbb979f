"""The schedule answers from a cache and is never stale.

The week, day and month views and the session-date panel keep their rendered
HTML in the "schedule" cache (Redis in production, a table of the database in
development and tests), keyed by everything they show:

- the schedule's version: a token in one database row (``ScheduleVersion``),
  replaced after every committed write that could change what they show;
- who asks: "staff" (every member of staff sees the same schedule) or the
  practitioner's own id (they see only theirs);
- the request's path and query string, the language, the time zone, the
  practice's locale and cancellation policy (as this process reads them), and
  what the caller adds (today, the quarter-hour the grid marks as now, whether
  the date has started).

Which writes count is decided where they happen, on the connection: every SQL
statement goes through ``_watch`` (a Django execute wrapper, installed on each
connection as it opens), and an INSERT, UPDATE or DELETE on a table of the
scheduling, clients or relationships apps, or of the users (their names, roles
and whether they are active; not a login's timestamp) or the practice, counts:
saves and deletes, ``QuerySet.update``, ``bulk_create``, raw SQL alike, in the
web processes, the worker and management commands. Inside a transaction the
token is replaced once, when it commits (``on_commit``): another process never
sees the new token before the rows. Until then, this connection renders
without the cache (a render of uncommitted rows is never stored), and a
transaction rolled back replaces nothing.

The token lives in the database, not in the cache: a cache emptied, evicted or
down can cost a render, never serve a stale one; a token is random, never
reused. Rendered HTML holds no CSRF token and no CSP nonce: they are rendered as
marks and put in per request. A cache that fails answers as a miss.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, ProgrammingError, connections, transaction
from django.db.backends.signals import connection_created
from django.middleware.csp import get_nonce
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from opus import practice as practices
from scheduling.models import ScheduleVersion
from scheduling.policy import POLICY_FIELDS

logger = logging.getLogger(__name__)

CACHE_ALIAS = "schedule"
TIMEOUT = 60 * 60  # an entry of an old version is left to expire

WATCHED_APPS = ("scheduling", "clients", "relationships")
WATCHED_MODELS = ("opus.User", "opus.Practice")
# columns whose change shows nowhere in the schedule
IGNORED_COLUMNS = {"opus_user": frozenset({"last_login", "password"})}

# stand-ins rendered into cached HTML, replaced per request (letters and digits only:
# escaping leaves them as they are)
CSRF_MARK = "csrfmarkscheduleCACHE7f3c1a9e"
NONCE_MARK = "noncemarkscheduleCACHE0b8d52e4"

_READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET ", "SHOW")
_READS += ("EXPLAIN", "DECLARE", "FETCH", "CLOSE", "ANALYZE", "VALUES")
_TARGET = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
_SET_COLUMN = re.compile(r'"(\w+)"\s*=')

_watched: frozenset[str] = frozenset()


def watched_tables() -> frozenset[str]:
    tables = set()
    for label in WATCHED_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            tables.add(model._meta.db_table)
    for label in WATCHED_MODELS:
        tables.add(apps.get_model(label)._meta.db_table)
    tables.discard(ScheduleVersion._meta.db_table)
    return frozenset(tables)


def changes_schedule(sql) -> bool:
    """Whether a statement may change what the schedule shows."""
    sql = str(sql)
    head = sql.lstrip()[:10].upper()
    if head.startswith(_READS):
        return False
    target = _TARGET.match(sql)
    if target is None:  # WITH ..., TRUNCATE, COPY, DDL: a write if it names a watched table
        return any(table in sql for table in _watched)
    table = target.group(1)
    if table not in _watched:
        return False
    ignored = IGNORED_COLUMNS.get(table)
    if ignored and head.startswith("UPDATE"):
        columns = set(_SET_COLUMN.findall(re.split(r"\sWHERE\s", sql, maxsplit=1)[0]))
        return not columns or not columns <= ignored
    return True


# --- the version --------------------------------------------------------------------


class _Bump:
    """The on-commit callback of a transaction that changed the schedule."""

    def __init__(self, alias: str):
        self.alias = alias
        self.done = False

    def __call__(self) -> None:
        self.done = True
        bump(using=self.alias)


def _pending(connection) -> bool:
    """Whether this connection's open transaction changed the schedule."""
    return any(isinstance(func, _Bump) and not func.done for _, func, _ in connection.run_on_commit)


def bump(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Replace the schedule's token: every cached rendering is out of date."""
    try:
        with transaction.atomic(using=using):
            ScheduleVersion.objects.using(using).bulk_create(
                [ScheduleVersion(pk=1, token=uuid.uuid4().hex)],
                update_conflicts=True,
                unique_fields=["id"],
                update_fields=["token"],
            )
    except ProgrammingError:  # migrating: the version's table is not there yet
        pass


def _changed(connection) -> None:
    if connection.in_atomic_block:
        if not _pending(connection):
            connection.on_commit(_Bump(connection.alias), robust=True)
    else:  # autocommit: the statement is committed already
        bump(using=connection.alias)


def _watch(execute, sql, params, many, context):
    result = execute(sql, params, many, context)
    if changes_schedule(sql):
        _changed(context["connection"])
    return result


def _install(sender, connection, **kwargs) -> None:
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch)


def install() -> None:
    """Watch every connection for writes to the schedule (from ``AppConfig.ready``)."""
    global _watched
    _watched = watched_tables()
    connection_created.connect(_install, dispatch_uid="schedule_cache")
    for connection in connections.all(initialized_only=True):
        _install(None, connection)


def current_version() -> str | None:
    """The schedule's token, or None when it cannot be used: the cache is off, or
    this connection holds uncommitted changes to the schedule."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not settings.SCHEDULE_CACHE or (connection.in_atomic_block and _pending(connection)):
        return None
    token = ScheduleVersion.objects.filter(pk=1).values_list("token", flat=True).first()
    if token is None:  # the row went (a test's flush): a new one for the next request
        bump()
    return token


# --- the rendered fragments -----------------------------------------------------------


def scope_of(user) -> str:
    """Whose schedule a rendering is: staff all see the same one."""
    return "staff" if user.is_practice_staff else f"user-{user.pk}"


def key_for(request, version: str, parts: tuple) -> str:
    practice = practices.current()
    described = repr(
        (
            version,
            scope_of(request.user),
            request.get_full_path(),
            get_language(),
            timezone.get_current_timezone_name(),
            practice.locale,
            tuple(getattr(practice, name) for name in POLICY_FIELDS),
            parts,
        )
    )
    return "schedule:" + hashlib.sha256(described.encode()).hexdigest()


def _personal(request, html: str) -> SafeString:
    if CSRF_MARK in html:
        html = html.replace(CSRF_MARK, get_token(request))
    if NONCE_MARK in html:
        html = html.replace(NONCE_MARK, str(get_nonce(request)))
    return mark_safe(html)  # rendered by our templates, autoescaped


def cached_fragment(request, parts: tuple, render: Callable[[dict], str]) -> SafeString:
    """The fragment ``render`` makes, from the cache when it holds it for the
    current version. ``render`` takes context to add (the marks standing in for
    the CSRF token and the CSP nonce when the result is to be cached)."""
    version = current_version()
    if version is None:
        return mark_safe(render({}))
    key = key_for(request, version, parts)
    try:
        html = caches[CACHE_ALIAS].get(key)
    except Exception:
        logger.warning("The schedule cache could not be read", exc_info=True)
        html = None
    if html is None:
        html = str(render({"csrf_token": CSRF_MARK, "csp_nonce": NONCE_MARK}))
        try:
            caches[CACHE_ALIAS].set(key, html, TIMEOUT)
        except Exception:
            logger.warning("The schedule cache could not be written", exc_info=True)
    return _personal(request, html)
