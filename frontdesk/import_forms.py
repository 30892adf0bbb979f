from django import forms

from frontdesk import imports
from frontdesk.models import ImportJob


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label="What the file holds",
        choices=ImportJob.Kind.choices,
        initial=ImportJob.Kind.CLIENTS,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose what the file holds.",
            "invalid_choice": "Choose what the file holds.",
        },
    )
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8 text, up to {imports.MAX_BYTES // 1024 // 1024} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        error_messages={
            "required": "Choose a CSV file to upload.",
            "empty": "The file is empty: choose the CSV file again.",
            "invalid": "Choose a CSV file to upload.",
        },
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > imports.MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB: the limit is "
                f"{imports.MAX_BYTES // 1024 // 1024} MB. Split it into several files."
            )
        return upload
