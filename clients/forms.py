from django import forms

from clients.models import Client
from clients.services import CONTACT_FIELDS


class ContactForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = CONTACT_FIELDS
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "address": forms.Textarea(attrs={"rows": 3}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
        }

    def clean_date_of_birth(self):
        from datetime import date

        from django.utils import timezone

        born = self.cleaned_data.get("date_of_birth")
        if born is not None and not date(1900, 1, 1) <= born <= timezone.localdate():
            raise forms.ValidationError("Enter a date of birth between 1900 and today.")
        return born
