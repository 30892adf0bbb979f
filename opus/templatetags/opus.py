from django import template

from opus.lib.money import format_money

register = template.Library()


@register.filter
def money(amount, currency="GBP"):
    """{{ invoice.total|money:invoice.currency }}"""
    return format_money(amount, currency)


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
