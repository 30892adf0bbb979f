"""A small fixed-window counter on Django's cache, for the public links (the card
link, invitations) and the password reset.

Why not django-ratelimit (already a dependency): its system check refuses the
database cache used in development (E003, "does not support atomic
increment") and does not know Django's own RedisCache used in production, and
what the card link needs is narrower: count *failures* (unknown tokens, refused
cards) and refuse once there were too many, without counting good requests.

``cache.add`` + ``cache.incr`` is atomic on Redis (INCR). On the development
database cache two exactly simultaneous failures may count as one; the limit
there is approximate, which is fine for development.

The limiter fails open: while the cache is down or hung (each call gives up
after the cache's socket timeout) nothing is counted or refused, and a warning
is logged, naming neither the client nor the link. A client's link must work
with Redis gone; its unguessable token is the real protection.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def _key(scope: str, ident: str) -> str:
    return f"opus:rl:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:40]}"


def _cache_failed(scope: str, error: Exception) -> None:
    logger.warning(
        "rate limit %s: the cache is unavailable (%s); not limiting", scope, type(error).__name__
    )


def failures(scope: str, ident: str) -> int:
    try:
        return int(cache.get(_key(scope, ident), 0))
    except Exception as error:  # any backend's connection or timeout error
        _cache_failed(scope, error)
        return 0


def is_blocked(scope: str, ident: str, *, limit: int) -> bool:
    return failures(scope, ident) >= limit


def record_failure(scope: str, ident: str, *, window: int) -> int:
    """Count one failure and return the count so far (0 when the cache is
    unavailable); the window starts at the first failure."""
    key = _key(scope, ident)
    try:
        if cache.add(key, 1, timeout=window):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            return 1
    except Exception as error:
        _cache_failed(scope, error)
        return 0
