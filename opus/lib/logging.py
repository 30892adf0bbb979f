import logging
import re

# Paths of the client-facing card link and an invoice's pay link (/pay/) carry a
# secret token: Django logs the path of every 4xx, so the token is cut out of
# every record before it is written.
# The same for the team's invitation link, and Django's password reset link
# (/password/reset/<uid>/<token>/: its GET redirects to .../set-password/).
_TOKEN_IN_PATH = re.compile(r"(/card/|/invitation/|/pay/confirm/|/pay/)[A-Za-z0-9_\-]{16,}")
_RESET_IN_PATH = re.compile(r"(/password/reset/)[A-Za-z0-9_\-]+/(?!set-password)[A-Za-z0-9_\-]+")
# A query string after a path or URL: searches carry names, emails and phone numbers.
_QUERY_AFTER_PATH = re.compile(r"(/[^\s?\"'<>]*)\?[^\s\"'<>]*")


def redact(text: str) -> str:
    text = _QUERY_AFTER_PATH.sub(r"\1", text)
    return _RESET_IN_PATH.sub(r"\1[redacted]", _TOKEN_IN_PATH.sub(r"\1[redacted]", text))


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if getattr(record, "request", None) is not None:
            record.request = None  # its repr holds the path, the query and the cookies
        return True
