from __future__ import annotations

from django import forms

from relationships.models import Relationship


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
