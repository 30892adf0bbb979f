import uuid
from copy import copy

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from billing.forms import AccountCreditForm
from billing.permissions import can_manage_billing
from billing.selectors import account_panel_context, card_panel_context
from clients.forms import ClientForm, ContactForm
from clients.models import Client
from clients.permissions import can_edit_client
from clients.selectors import MAX_QUERY_LENGTH, search_clients
from clients.services import PossibleDuplicates, update_contact_details
from clients.views import PICK_FIELDS, PICK_SIZE
from frontdesk.client_flows import delete_client, why_not_deletable
from frontdesk.profile import profile_for, with_profile_flags
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import is_fragment_request, page_or_fragment
from opus.lib.parsing import parse_id, parse_uuid
from opus.models import User
from relationships.forms import WhoPaysForm
from relationships.services import add_client, add_relationship


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
    if can_manage_billing(request.user):  # what the practice owes the payer: staff's
        context["account_panel"] = account_panel_context(client, request.user)
        context["account_form"] = AccountCreditForm(currency=settings.OPUS_CURRENCY)
    context["today"] = timezone.localdate()
    return render(request, page_or_fragment(request, "clients/detail.html", "profile"), context)


# --- adding a client, and who pays --------------------------------------------------------
def _practitioners():
    return User.objects.filter(role=User.Role.PRACTITIONER, is_active=True).order_by(
        "first_name", "last_name", "pk"
    )


def _require_staff(request) -> None:
    if not can_edit_client(request.user, None):
        raise PermissionDenied


def _matches(request, who) -> list:
    """The organiser picker's matches for what was typed (shown without JS too)."""
    q = (who.data.get("organiser_q") or "").strip()[:MAX_QUERY_LENGTH] if who.is_bound else ""
    if not q:
        return []
    return list(search_clients(request.user, q=q).only(*PICK_FIELDS)[:PICK_SIZE])


def _who_pays_error(who, form, error: BusinessRuleError) -> None:
    if form is not None and error.field in form.fields:
        form.add_error(error.field, error.message)
    else:
        who.add_error(error.field if error.field in who.fields else None, error.message)


def client_add(request):
    """ "Add client": the details, who pays, and the practitioner (optional). Possible
    duplicates are shown while typing (htmx) and again on submit, where only "Create
    anyway" (``confirm``) creates the client."""
    _require_staff(request)
    data = request.POST if request.method == "POST" else None
    form = ClientForm(data)
    who = WhoPaysForm(data, user=request.user, practitioners=_practitioners())
    duplicates, organiser_duplicates = [], []
    confirmed = bool(data and data.get("confirm"))
    organiser_confirmed = bool(data and data.get("confirm_organiser"))
    request_key = parse_uuid(data.get("request_key", "")) if data else None
    if data is not None and data.get("action") != "find" and form.is_valid() & who.is_valid():
        try:
            relationship = add_client(
                details=form.cleaned_data,
                who=who.who_pays(allow_duplicate_organiser=organiser_confirmed),
                actor=request.user,
                allow_duplicates=confirmed,
                request_key=request_key,
            )
        except PossibleDuplicates as error:
            if (error.field or "").startswith("organiser"):
                organiser_duplicates = error.duplicates
            else:
                duplicates = error.duplicates
        except BusinessRuleError as error:
            _who_pays_error(who, form, error)
        else:
            attendee = relationship.attendee
            messages.success(request, _added_message(relationship))
            return redirect("clients:detail", client_id=attendee.pk)
    context = {
        "section": "clients",
        "form": form,
        "who": who,
        "duplicates": duplicates,
        "organiser_duplicates": organiser_duplicates,
        "confirmed": confirmed,
        "organiser_confirmed": organiser_confirmed,
        "matches": _matches(request, who),
        "organiser_q": who["organiser_q"].value() or "",
        "chosen": _chosen(who),
        "submitted": True,  # duplicates here come from a submission: offer "Create anyway"
        "request_key": request_key or uuid.uuid4(),
    }
    return render(request, "clients/add.html", context)


def _chosen(who) -> int | None:
    if not who.is_bound:
        return None
    return parse_id(who.data.get("organiser") or "")


def _added_message(relationship) -> str:
    attendee = relationship.attendee
    if relationship.is_third_party:
        return (
            f"{attendee.full_name} added; {relationship.payer.full_name} pays for their sessions."
        )
    return f"{attendee.full_name} added; they pay for their own sessions."


def relationship_new(request, client_id: int):
    """ "New relationship" on a client's Relationships tab: who pays for them from now on."""
    client = get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)
    _require_staff(request)
    data = request.POST if request.method == "POST" else None
    who = WhoPaysForm(data, user=request.user, practitioners=_practitioners())
    organiser_duplicates = []
    organiser_confirmed = bool(data and data.get("confirm_organiser"))
    if data is not None and data.get("action") != "find" and who.is_valid():
        try:
            relationship = add_relationship(
                attendee=client,
                who=who.who_pays(allow_duplicate_organiser=organiser_confirmed),
                actor=request.user,
            )
        except PossibleDuplicates as error:
            organiser_duplicates = error.duplicates
        except BusinessRuleError as error:
            _who_pays_error(who, None, error)
        else:
            messages.success(request, "Relationship created.")
            return redirect("relationships:detail", pk=relationship.pk)
    context = {
        "section": "clients",
        "client": client,
        "who": who,
        "organiser_duplicates": organiser_duplicates,
        "organiser_confirmed": organiser_confirmed,
        "matches": _matches(request, who),
        "organiser_q": who["organiser_q"].value() or "",
        "chosen": _chosen(who),
    }
    return render(request, "clients/relationship_new.html", context)


def client_delete(request, client_id: int):
    """Delete a client added by mistake: a confirmation page (or why not), then POST."""
    client = get_object_or_404(Client.objects.visible_to(request.user), pk=client_id)
    _require_staff(request)
    refusal = why_not_deletable(client)
    if request.method == "POST":
        try:
            name = delete_client(client=client, actor=request.user)
        except BusinessRuleError as error:
            refusal = error.message
        else:
            messages.success(request, f"{name} was deleted.")
            return redirect("clients:list")
    return render(
        request,
        "clients/delete.html",
        {"section": "clients", "client": client, "refusal": refusal},
    )
