from django import forms
from django.contrib.auth.forms import AuthenticationForm

from opus import practice as practices


class LoginForm(AuthenticationForm):
    """Django's login form, saying at each field what is missing.

    Django sets the username's max_length after the field is built, so nothing
    checks it: a 10,000-character username reached authenticate() and the lockout
    record (varchar 255), a 500. A username longer than any account's is answered
    as an unknown one, before anyone is authenticated."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].error_messages["required"] = "Enter your username."
        self.fields["password"].error_messages["required"] = "Enter your password."

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and len(username) > self.fields["username"].max_length:
            raise self.get_invalid_login_error()
        return super().clean()


class PracticeForm(forms.Form):
    """The practice settings: each field as opus.practice.FIELDS defines it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, build in practices.FIELDS.items():
            self.fields[name] = build()
