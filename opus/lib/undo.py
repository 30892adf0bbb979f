"""A confirmation that offers Undo: the message says what was done, and a button
next to it posts to the view that undoes it (closing, archiving).

The URL rides in the message's extra tags ("undo=/path/"), which every message
storage keeps; templates/_partials/message.html reads it with ``undo_url``."""

from django.contrib import messages

PREFIX = "undo="


def success_with_undo(request, text: str, undo_url: str) -> None:
    messages.success(request, text, extra_tags=PREFIX + undo_url)


def undo_url(message) -> str:
    """The Undo URL of a message added by success_with_undo, or ""."""
    for tag in str(getattr(message, "extra_tags", "") or "").split():
        if tag.startswith(PREFIX + "/"):
            return tag.removeprefix(PREFIX)
    return ""
