"""The "Practice settings" page: staff edit the practice's details and policies."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseLocation

from opus import practice as practices
from opus.forms import PracticeForm
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.models import PracticeChange

HISTORY_SHOWN = 20


@require_http_methods(["GET", "POST"])
def practice_settings(request):
    if not request.user.is_practice_staff:
        raise PermissionDenied("Only staff can change the practice settings.")
    if request.method == "POST":
        form = PracticeForm(request.POST)
        if form.is_valid():
            try:
                change = practices.update_practice(data=form.cleaned_data, actor=request.user)
            except BusinessRuleError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(
                    request, "Practice settings saved." if change else "Nothing changed."
                )
                url = reverse("practice-settings")
                if is_fragment_request(request):
                    return HttpResponseLocation(url, target="#practice-settings", swap="outerHTML")
                return redirect(url)
    else:
        practice = practices.saved()
        form = PracticeForm(initial={name: getattr(practice, name) for name in practices.FIELDS})
    context = {
        "section": "practice",
        "form": form,
        "fragment": is_fragment_request(request),
        "deployment": [
            ("Currency", settings.OPUS_CURRENCY),
            ("Time zone", settings.TIME_ZONE),
            *(
                [("Two-factor authentication", "Required for the whole team by the server")]
                if settings.OPUS_STAFF_2FA_REQUIRED
                else []
            ),
        ],
        "history": list(PracticeChange.objects.select_related("changed_by")[:HISTORY_SHOWN]),
    }
    template = page_or_fragment(request, "opus/practice_settings.html", "settings")
    return render(request, template, context)
