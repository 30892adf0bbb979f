"""A small fixed-window counter on Django's cache, for the public card link.

Why not django-ratelimit (already a dependency): its system check refuses the
database cache used in development (E003, "does not support atomic
increment") and does not know Django's own RedisCache used in production, and
what the card link needs is narrower: count *failures* (unknown tokens, refused
cards) and refuse once there were too many, without counting good requests.

``cache.add`` + ``cache.incr`` is atomic on Redis (INCR). On the development
database cache two exactly simultaneous failures may count as one; the limit
there is approximate, which is fine for development.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def _key(scope: str, ident: str) -> str:
    return f"opus:rl:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:40]}"


def failures(scope: str, ident: str) -> int:
    return int(cache.get(_key(scope, ident), 0))


def is_blocked(scope: str, ident: str, *, limit: int) -> bool:
    return failures(scope, ident) >= limit


def record_failure(scope: str, ident: str, *, window: int) -> int:
    """Count one failure; the window starts at the first failure."""
    key = _key(scope, ident)
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def client_ip(request) -> str:
    """The address the request came from. Behind a proxy, the proxy must set
    REMOTE_ADDR (gunicorn --forwarded-allow-ips), as for the login lockout."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"
