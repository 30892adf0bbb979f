from __future__ import annotations

from django import forms

from clients.forms import client_fields
from clients.models import Client
from relationships.models import Relationship
from relationships.services import WhoPays


class RelationshipFilterForm(forms.Form):
    q = forms.CharField(label="Search by either client's name", required=False, max_length=100)
    kind = forms.ChoiceField(
        label="Type", required=False, choices=[("", "Any type"), *Relationship.Kind.choices]
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Relationship.Status.choices]
    )
    practitioner = forms.ModelChoiceField(
        label="Practitioner", required=False, queryset=None, empty_label="Any practitioner"
    )

    def __init__(self, *args, practitioners, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        self.fields["practitioner"].queryset = practitioners


class WhoPaysForm(forms.Form):
    """Who pays for a client's sessions: themselves (first party), or an organiser,
    picked among the clients or created here by name and email (third party); and the
    practitioner the relationship belongs to, if any."""

    SELF, OTHER = "self", "other"

    pays = forms.ChoiceField(
        label="Who pays?",
        choices=[(SELF, "The client pays for themselves"), (OTHER, "Someone else pays")],
        initial=SELF,
        widget=forms.RadioSelect,
        error_messages={"required": "Say who pays.", "invalid_choice": "Say who pays."},
    )
    organiser_q = forms.CharField(
        label="Find the organiser (who pays)",
        required=False,
        max_length=100,
        help_text="Type a name, email or phone, then choose among the matches.",
    )
    organiser = forms.ModelChoiceField(
        label="Organiser",
        required=False,
        queryset=None,
        error_messages={"invalid_choice": "Choose the organiser among the matches."},
    )
    organiser_first_name = client_fields("first_name")["first_name"]
    organiser_last_name = client_fields("last_name")["last_name"]
    organiser_email = client_fields("email")["email"]
    practitioner = forms.ModelChoiceField(
        label="Practitioner",
        required=False,
        queryset=None,
        empty_label="None: sessions with any practitioner",
        error_messages={"invalid_choice": "Choose a practitioner from the list."},
    )

    def __init__(self, *args, user, practitioners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organiser"].queryset = Client.objects.visible_to(user).active()
        self.fields["practitioner"].queryset = practitioners
        for name in ("organiser_first_name", "organiser_last_name"):
            self.fields[name].required = False
        self.fields["organiser_first_name"].label = "New organiser's first name"
        self.fields["organiser_last_name"].label = "New organiser's last name"
        self.fields["organiser_email"].label = "New organiser's email address"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("pays") != self.OTHER or cleaned.get("organiser"):
            return cleaned
        first, last = cleaned.get("organiser_first_name"), cleaned.get("organiser_last_name")
        if first and last:
            return cleaned
        if first or last or cleaned.get("organiser_email"):
            for name, value in (("organiser_first_name", first), ("organiser_last_name", last)):
                if not value and name not in self.errors:
                    self.add_error(
                        name, f"Enter the new organiser's {name[10:].replace('_', ' ')}."
                    )
        elif not self.errors:
            self.add_error(
                "organiser_q",
                "Someone else pays: choose the organiser among the matches, "
                "or enter the new organiser's name.",
            )
        return cleaned

    def who_pays(self, *, allow_duplicate_organiser=False) -> WhoPays:
        data = self.cleaned_data
        if data["pays"] == self.SELF:
            return WhoPays(self_pays=True, practitioner=data.get("practitioner"))
        if data.get("organiser"):
            return WhoPays(
                self_pays=False, organiser=data["organiser"], practitioner=data.get("practitioner")
            )
        return WhoPays(
            self_pays=False,
            organiser_details={
                "first_name": data["organiser_first_name"],
                "last_name": data["organiser_last_name"],
                "email": data.get("organiser_email", ""),
            },
            practitioner=data.get("practitioner"),
            allow_duplicate_organiser=allow_duplicate_organiser,
        )
