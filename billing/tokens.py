"""Card-request link tokens: the shared link-token scheme (opus/lib/tokens.py)
under the card link's own salt.

A request row holds a random ``nonce`` and ``token_hash``, never the token; the
worker that sends the email re-derives the token from the row, so a redelivered
or resent email carries the same working link. After SECRET_KEY is rotated, the
old key in SECRET_KEY_FALLBACKS still rebuilds links of rows created before.
"""

from __future__ import annotations

from opus.lib import tokens
from opus.lib.tokens import TOKEN_CHARS, hash_token, looks_like_token, new_nonce

SALT = "opus.billing.card-request-link"

__all__ = ["SALT", "TOKEN_CHARS", "derive_token", "hash_token", "looks_like_token", "new_nonce"]


def derive_token(nonce: str, *, secret: str | None = None) -> str:
    return tokens.derive_token(SALT, nonce, secret=secret)


def token_for(card_request) -> str | None:
    """The link token of a request, re-derived; None if no configured key
    reproduces its hash (the keys changed and the old one was dropped)."""
    return tokens.token_for(SALT, card_request)


PAY_SALT = "opus.billing.invoice-pay-link"


def derive_pay_token(nonce: str, *, secret: str | None = None) -> str:
    return tokens.derive_token(PAY_SALT, nonce, secret=secret)


def pay_token_for(pay_link) -> str | None:
    """The token of an invoice's pay link, re-derived (None: the key is gone)."""
    return tokens.token_for(PAY_SALT, pay_link)


CONFIRMATION_SALT = "opus.billing.payment-confirmation-link"


def confirmation_token(nonce: str, *, secret: str | None = None) -> str:
    return tokens.derive_token(CONFIRMATION_SALT, nonce, secret=secret)


def confirmation_token_for(confirmation) -> str | None:
    return tokens.token_for(CONFIRMATION_SALT, confirmation)
