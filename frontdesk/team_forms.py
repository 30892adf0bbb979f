from django import forms

from frontdesk.team import takeover_choices
from opus.models import User


class InviteForm(forms.Form):
    first_name = forms.CharField(label="First name", max_length=150)
    last_name = forms.CharField(label="Last name", max_length=150)
    email = forms.EmailField(label="Email", max_length=150)
    role = forms.ChoiceField(
        label="Role", choices=User.Role.choices, initial=User.Role.PRACTITIONER
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["first_name"].error_messages["required"] = "Enter the first name."
        self.fields["last_name"].error_messages["required"] = "Enter the last name."
        self.fields["email"].error_messages["required"] = "Enter the email address."
        self.fields["role"].error_messages["invalid_choice"] = "Choose staff or practitioner."


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=User.Role.choices)


class DeactivateForm(forms.Form):
    takeover = forms.ModelChoiceField(
        label="Who takes over their sessions?",
        queryset=User.objects.none(),
        required=False,
        empty_label="Choose a practitioner",
    )

    def __init__(self, *args, member: User, needs_takeover: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["takeover"].required = needs_takeover
        self.fields["takeover"].error_messages["required"] = (
            "Choose who takes over their coming sessions."
        )
        self.fields["takeover"].queryset = takeover_choices(member).order_by(
            "first_name", "last_name", "pk"
        )
        self.fields["takeover"].error_messages["invalid_choice"] = (
            "Choose an active practitioner to take the sessions over."
        )
