from django import forms

from clients import fields
from clients.models import Client
from clients.services import CONTACT_FIELDS


class ContactForm(forms.ModelForm):
    """Staff edit a client's details; each field's rule is clients.fields'."""

    first_name = fields.name_field("First name")
    last_name = fields.name_field("Last name")
    email = fields.email_field(required=False)
    phone = fields.phone_field(required=False)
    date_of_birth = fields.date_of_birth_field(required=False)
    address = fields.address_field(required=False)

    class Meta:
        model = Client
        fields = CONTACT_FIELDS
