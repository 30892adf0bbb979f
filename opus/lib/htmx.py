def is_fragment_request(request) -> bool:
    """An htmx request that wants a fragment: not boosted, not a history restore."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def page_or_fragment(request, template: str, fragment: str) -> str:
    return f"{template}#{fragment}" if is_fragment_request(request) else template
