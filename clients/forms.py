"""The one form of a client's details. Every form that edits a client builds on it
(adding a client, editing one, the details a migration asks for), and each field's
rule is clients.fields'."""

from __future__ import annotations

import copy

from django import forms

from clients import fields
from clients.models import Client

CLIENT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address",
    "notes",
)


class ClientForm(forms.Form):
    """A client's details: names required, the rest optional unless a caller asks for
    them (``required``); ``only`` keeps some fields and drops the others."""

    first_name = fields.name_field("First name")
    last_name = fields.name_field("Last name")
    email = fields.email_field(required=False)
    phone = fields.phone_field(required=False)
    date_of_birth = fields.date_of_birth_field(required=False)
    address = fields.address_field(required=False)
    notes = fields.notes_field(required=False)

    def __init__(self, *args, instance: Client | None = None, only=None, required=(), **kwargs):
        if instance is not None and "initial" not in kwargs and not args and "data" not in kwargs:
            kwargs["initial"] = {name: getattr(instance, name) for name in CLIENT_FIELDS}
        super().__init__(*args, **kwargs)
        self.instance = instance
        for name in list(self.fields):
            if only is not None and name not in only:
                del self.fields[name]
            elif name in required:
                self.fields[name].required = True


def client_fields(*names: str, prefix_label: str = "") -> dict[str, forms.Field]:
    """Copies of ClientForm's fields, for a form that asks for some client details
    among other things (the organiser created inline on "Add client")."""
    built = {}
    for name in names:
        field = copy.deepcopy(ClientForm.base_fields[name])
        if prefix_label:
            field.label = f"{prefix_label} {field.label.lower()}"
        built[name] = field
    return built


# Staff edit a client's details on the profile: the same form.
ContactForm = ClientForm
