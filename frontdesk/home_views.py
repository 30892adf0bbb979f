"""Today (the home page after login) and the quick search."""

from django.shortcuts import render
from django.utils import timezone

from frontdesk.today import quick_search, todays_sessions, waiting_for_staff
from opus.lib.htmx import page_or_fragment


def today(request):
    """Staff: today's sessions with their rosters and what is waiting. A
    practitioner: their own day."""
    now = timezone.localtime()
    day = now.date()
    staff = request.user.is_practice_staff
    context = {
        "section": "today",
        "day": day,
        "sessions": todays_sessions(request.user, day=day),
        "waiting": waiting_for_staff(now=now) if staff else None,
        "staff": staff,
    }
    return render(request, page_or_fragment(request, "frontdesk/today.html", "today"), context)


def search(request):
    """The quick search: results as one types (htmx fragment), or a page of results."""
    results = quick_search(request.user, request.GET.get("q", ""))
    return render(
        request,
        page_or_fragment(request, "frontdesk/search.html", "results"),
        {"results": results, "q": results.q},
    )
