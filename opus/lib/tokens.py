"""Link tokens held only hashed, re-derivable by whoever holds SECRET_KEY.

A row holds a random ``nonce`` (256 bits) and ``token_hash``, the SHA-256 of
the token. The token is an HMAC of the nonce under a key derived from
SECRET_KEY and a salt of its own per kind of link, so the worker that sends
the email rebuilds it from the row (the outbox row holds only the row's id).
Someone who reads the database learns neither the token nor a way to compute
it. billing/tokens.py applies it to the card link, opus/team.py to invitations.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

TOKEN_CHARS = 43  # base64url of 32 bytes, unpadded


def new_nonce() -> str:
    return secrets.token_hex(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def derive_token(salt: str, nonce: str, *, secret: str | None = None) -> str:
    digest = salted_hmac(salt, nonce, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_for(salt: str, row) -> str | None:
    """The link token of a row (``nonce``, ``token_hash``), re-derived; None if no
    configured key reproduces its hash."""
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        token = derive_token(salt, row.nonce, secret=secret)
        if secrets.compare_digest(hash_token(token), row.token_hash):
            return token
    return None


def looks_like_token(token: str) -> bool:
    return len(token) == TOKEN_CHARS and all(c.isalnum() or c in "-_" for c in token)
