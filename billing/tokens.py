"""Card-request link tokens.

A request row holds a random ``nonce`` (256 bits) and ``token_hash``, the
SHA-256 of the token; never the token. The token is an HMAC of the nonce under
a key derived from SECRET_KEY, so the worker that sends the email re-derives
it from the row (the outbox row holds only the request's id), and a
redelivered or resent email carries the same working link.

Someone who reads the database learns neither the token nor a way to compute
it (that needs SECRET_KEY too, which already lets its holder forge sessions).
After SECRET_KEY is rotated, the old key in SECRET_KEY_FALLBACKS still
rebuilds links of rows created before the rotation.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

SALT = "opus.billing.card-request-link"
TOKEN_CHARS = 43  # base64url of 32 bytes, unpadded


def new_nonce() -> str:
    return secrets.token_hex(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def derive_token(nonce: str, *, secret: str | None = None) -> str:
    digest = salted_hmac(SALT, nonce, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_for(card_request) -> str | None:
    """The link token of a request, re-derived; None if no configured key
    reproduces its hash (the keys changed and the old one was dropped)."""
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        token = derive_token(card_request.nonce, secret=secret)
        if secrets.compare_digest(hash_token(token), card_request.token_hash):
            return token
    return None


def looks_like_token(token: str) -> bool:
    return len(token) == TOKEN_CHARS and all(c.isalnum() or c in "-_" for c in token)
