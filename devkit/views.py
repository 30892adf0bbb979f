from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from devkit.models import DevMail


def _require_mailbox(request) -> None:
    if not settings.DEV_MAILBOX_ENABLED or not request.user.is_practice_staff:
        raise Http404


def mailbox(request):
    _require_mailbox(request)
    mails = DevMail.objects.only("pk", "to", "subject", "sent_at")[:100]
    return render(request, "devkit/mailbox.html", {"mails": mails, "section": "mail"})


def mail(request, mail_id: int):
    _require_mailbox(request)
    mail = get_object_or_404(DevMail, pk=mail_id)
    return render(request, "devkit/mail.html", {"mail": mail, "section": "mail"})


@xframe_options_sameorigin
def mail_html(request, mail_id: int):
    """The HTML body, shown in a sandboxed frame of the mail page."""
    _require_mailbox(request)
    mail = get_object_or_404(DevMail, pk=mail_id)
    response = HttpResponse(mail.body_html)
    response["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
    )
    return response
