import re
from functools import cache
from pathlib import Path

from django import template
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from opus.lib import undo
from opus.lib.money import format_day, format_money

register = template.Library()

ICONS = Path(__file__).resolve().parent.parent / "icons" / "lucide"
SVG_BODY = re.compile(r"<svg[^>]*>(.*)</svg>", re.DOTALL)


@cache
def icon_markup(name: str) -> str:
    """The inline SVG of one vendored Lucide icon (opus/icons/), hidden from
    assistive technology: the text label next to it is what is read."""
    path = ICONS / f"{name}.svg"
    if not re.fullmatch(r"[a-z0-9-]+", name) or not path.is_file():
        raise ValueError(f"no icon {name!r} in {ICONS}")
    body = " ".join(SVG_BODY.search(path.read_text()).group(1).split())
    return (
        '<svg class="icon" aria-hidden="true" xmlns="http://www.w3.org/2000/svg"'
        ' width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor"'
        ' stroke-width="2"'
        f' stroke-linecap="round" stroke-linejoin="round">{body}</svg>'
    )


@register.simple_tag
def icon(name):
    """{% icon "calendar" %}: a vendored Lucide icon, inline and aria-hidden."""
    return mark_safe(icon_markup(name))  # our own vendored files, not input


@register.filter
def undo_url(message):
    """{{ message|undo_url }}: where the message's Undo button posts (opus.lib.undo)."""
    return undo.undo_url(message)


@register.filter
def money(amount, currency="GBP"):
    """{{ invoice.total|money:invoice.currency }}: in the practice's locale
    (Practice settings), e.g. £1,234.50, 1.234,50 € or $1,234.50."""
    return format_money(amount, currency)


@register.filter
def day(value, length="medium"):
    """{{ invoice.due_on|day:"long" }}: a date in the practice's locale; ``length``
    is Babel's short, medium, long or full (en_GB: 30/11/2026, 30 Nov 2026,
    30 November 2026, Monday, 30 November 2026; de_DE: 30.11.26 ... Montag, 30.
    November 2026)."""
    if not value:
        return ""
    if length not in ("short", "medium", "long", "full"):
        length = "medium"
    return format_day(value, length=length)


@register.filter
def timestamp(value):
    """An aware datetime as ``<time datetime="2026-03-05T14:30:00+00:00">5 Mar 2026,
    14:30</time>`` in the current time zone: what ``|date:"c"`` and ``|date:"j M Y,
    H:i"`` write, converted once and without parsing a format, for long lists."""
    if not value:
        return ""
    local = timezone.localtime(value)
    month = MONTHS_3[local.month].title()  # translated, as the date filter's "M"
    return format_html(
        '<time datetime="{}">{} {} {}, {}</time>',
        local.isoformat(timespec="seconds"),  # the HTML checker takes at most milliseconds
        local.day,
        month,
        local.year,
        f"{local:%H:%M}",
    )


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (None removes)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
