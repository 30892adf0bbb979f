"""Reading numbers typed or posted by a browser. ``str.isdigit`` is true for "²"
and other non-ASCII digits that ``int`` refuses: check ASCII digits only."""

import re
import uuid

# C0 control characters but tab, line feed and carriage return: no one types them,
# and PostgreSQL refuses NUL in text (and in JSON)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def without_controls(value: str) -> str:
    return CONTROL_CHARACTERS.sub("", value)


def ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def parse_id(value: str | None) -> int | None:
    """A database id from a form or query string, or None for anything else
    (empty, signed, non-ASCII digits, or too long for a bigint)."""
    value = (value or "").strip()
    return int(value) if ascii_digits(value) and len(value) < 19 else None


def parse_uuid(value: str | None) -> uuid.UUID | None:
    """A UUID from a form or the address, or None for anything else."""
    try:
        return uuid.UUID(str(value or ""))
    except ValueError:
        return None
