"""Reading numbers typed or posted by a browser. ``str.isdigit`` is true for "²"
and other non-ASCII digits that ``int`` refuses: check ASCII digits only."""


def ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def parse_id(value: str | None) -> int | None:
    """A database id from a form or query string, or None for anything else
    (empty, signed, non-ASCII digits, or too long for a bigint)."""
    value = (value or "").strip()
    return int(value) if ascii_digits(value) and len(value) < 19 else None
