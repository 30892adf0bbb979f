from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse

from clients.selectors import DEFAULT_SORT, MAX_QUERY_LENGTH, SORTS, search_clients
from opus.lib.htmx import page_or_fragment

PAGE_SIZE = 25
LIST_FIELDS = ("first_name", "last_name", "email", "phone", "last_activity_at")
SORT_CHOICES = [("name", "Name"), ("activity", "Most recent activity")]


def client_list(request):
    """Clients visible to the user: searched as you type, sorted, paginated."""
    q = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    sort = request.GET.get("sort", DEFAULT_SORT)
    sort = sort if sort in SORTS else DEFAULT_SORT
    clients = search_clients(request.user, q=q, sort=sort).only(*LIST_FIELDS)
    page = Paginator(clients, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "section": "clients",
        "page": page,
        "q": q,
        "sort": sort,
        "sort_choices": SORT_CHOICES,
        "profile_url": reverse("clients:detail", args=[0])[:-2],  # + id + "/", once per page
    }
    return render(request, page_or_fragment(request, "clients/list.html", "results"), context)
