from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from clients.forms import ClientForm
from clients.models import Client
from clients.permissions import can_edit_client
from clients.selectors import (
    DEFAULT_SORT,
    MAX_QUERY_LENGTH,
    SORTS,
    possible_duplicates,
    search_clients,
)
from clients.services import archive_client, restore_client
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.lib.undo import success_with_undo

PAGE_SIZE = 25
LIST_FIELDS = ("first_name", "last_name", "email", "phone", "last_activity_at")
SORT_CHOICES = [("name", "Name"), ("activity", "Most recent activity")]
DUPLICATE_FIELDS = ("first_name", "last_name", "email", "date_of_birth")
PICK_FIELDS = ("first_name", "last_name", "email")
PICK_SIZE = 10


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
        "can_add": can_edit_client(request.user, None),
    }
    return render(request, page_or_fragment(request, "clients/list.html", "results"), context)


def _staff_only(request) -> None:
    if not can_edit_client(request.user, None):
        raise PermissionDenied


@require_GET
def duplicates(request):
    """While "Add client" is typed: the clients who may be the same person, each with
    a link (an htmx fragment; the form checks again when it is submitted)."""
    _staff_only(request)
    form = ClientForm(request.GET, only=DUPLICATE_FIELDS)
    form.is_valid()  # what is valid so far is enough
    found = list(possible_duplicates(form.cleaned_data))
    return render(request, "clients/add.html#duplicates", {"duplicates": found})


@require_GET
def pick(request):
    """The organiser picker's matches (htmx fragment): clients the user sees, not
    archived, matching what is typed."""
    q = request.GET.get("organiser_q", "").strip()[:MAX_QUERY_LENGTH]
    matches = list(search_clients(request.user, q=q).only(*PICK_FIELDS)[:PICK_SIZE]) if q else []
    return render(
        request,
        "clients/_who_pays.html#organiser-matches",
        {"matches": matches, "organiser_q": q, "chosen": None},
    )


def _archive_or_restore(request, client_id: int, service, done: str, undo: str = ""):
    client = get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)
    _staff_only(request)
    if service(client=client, actor=request.user):
        text = done.format(name=client.full_name)
        if undo:
            success_with_undo(request, text, reverse(undo, args=[client.pk]))
        else:
            messages.success(request, text)
    url = reverse("clients:detail", args=[client.pk])
    if is_fragment_request(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_POST
def archive(request, client_id: int):
    return _archive_or_restore(
        request,
        client_id,
        archive_client,
        "{name} is archived: gone from the clients list and search, with every invoice "
        "and line of history kept. Restore them here at any time.",
        undo="clients:restore",
    )


@require_POST
def restore(request, client_id: int):
    return _archive_or_restore(
        request, client_id, restore_client, "{name} is restored: back in the clients list."
    )
