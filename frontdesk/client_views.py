from copy import copy

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from billing.selectors import card_panel_context
from clients.forms import ContactForm
from clients.models import Client
from clients.permissions import can_edit_client
from clients.services import update_contact_details
from frontdesk.profile import profile_for, with_profile_flags
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment


def client_detail(request, client_id: int):
    """The client's profile. Staff change the contact details here: ``?edit=contact``
    shows the form (the section alone for htmx), a POST saves it."""
    client = get_object_or_404(
        with_profile_flags(Client.objects.visible_to(request.user)), pk=client_id
    )
    can_edit = can_edit_client(request.user, client)
    form, saved = None, None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        form = ContactForm(request.POST, instance=copy(client))
        if form.is_valid():
            try:
                changed = update_contact_details(
                    client=client, data=form.cleaned_data, actor=request.user
                )
            except BusinessRuleError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                saved = f"Saved: {', '.join(changed)}." if changed else "Nothing was changed."
                if not is_fragment_request(request):
                    messages.success(request, saved)
                    return redirect("clients:detail", client_id=client.pk)
                form = None
    elif can_edit and request.GET.get("edit") == "contact":
        form = ContactForm(instance=client)
    context = {"section": "clients", "client": client, "form": form, "can_edit": can_edit}
    if is_fragment_request(request) and (
        request.method == "POST" or "edit" in request.GET or "part" in request.GET
    ):
        return render(request, "clients/detail.html#contact", {**context, "saved": saved})
    context["profile"] = profile_for(client, request.user, today=timezone.localdate())
    context["card_panel"] = card_panel_context(client, request.user)
    context["today"] = timezone.localdate()
    return render(request, page_or_fragment(request, "clients/detail.html", "profile"), context)
