from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from opus.lib.htmx import page_or_fragment
from opus.models import User
from relationships import selectors
from relationships.forms import RelationshipFilterForm


def relationship_list(request):
    practitioners = User.objects.filter(role=User.Role.PRACTITIONER, is_active=True)
    form = RelationshipFilterForm(request.GET or None, practitioners=practitioners)
    filters = form.cleaned_data if form.is_valid() else {}
    relationships = selectors.relationship_list(
        request.user,
        q=filters.get("q", ""),
        kind=filters.get("kind", ""),
        status=filters.get("status", ""),
        practitioner=filters.get("practitioner"),
    )
    page = Paginator(relationships, 50).get_page(request.GET.get("page"))
    template = page_or_fragment(request, "relationships/list.html", "results")
    return render(
        request,
        template,
        {"section": "relationships", "page": page, "form": form},
    )
