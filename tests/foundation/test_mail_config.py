"""Mail configuration: every advertised provider works or refuses to start with a
clear message; a send that fails for configuration reasons is not retried for
hours; every client email carries the practice's Reply-To."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from anymail.exceptions import AnymailImproperlyInstalled
from django.core import mail as django_mail

from billing.services import request_payment_card
from clients.models import ClientEvent
from opus import mail
from opus.mail import EMAIL_KINDS, build_message
from opus.models import OutboundEmail
from opus.practice import update_practice
from opus.services import send_outbound
from tests.factories import ClientFactory
from tests.support.practice import assume_practice, settings_form

ROOT = Path(__file__).resolve().parents[2]

# What each provider needs besides its name (the README's settings table).
PROVIDER_KEYS = {
    "smtp": {"SMTP_HOST": "smtp.example.com"},
    "postmark": {"ANYMAIL_POSTMARK_SERVER_TOKEN": "test-token"},
    "mailgun": {"ANYMAIL_MAILGUN_API_KEY": "test-key"},
    "sendgrid": {"ANYMAIL_SENDGRID_API_KEY": "test-key"},
    "amazon_ses": {"AWS_DEFAULT_REGION": "eu-west-1"},
    "brevo": {"ANYMAIL_BREVO_API_KEY": "test-key"},
}


def settings_in_a_process(*, provider: str, **env) -> subprocess.CompletedProcess:
    """Load the settings with EMAIL_PROVIDER=provider in a fresh process and build
    the configured mailer, as the worker does before its first send."""
    code = (
        "import django; django.setup();"
        "from django.core.mail import mailers; mailers['default']; print('ok')"
    )
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "opus.settings", **env}
    full_env["EMAIL_PROVIDER"] = provider
    for keys in PROVIDER_KEYS.values():
        for key in keys:
            if key not in env:
                full_env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("provider", sorted(PROVIDER_KEYS))
def test_every_advertised_provider_loads_with_its_keys(provider):
    result = settings_in_a_process(provider=provider, **PROVIDER_KEYS[provider])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("provider", sorted(PROVIDER_KEYS))
def test_a_provider_without_its_keys_refuses_to_start_and_names_them(provider):
    result = settings_in_a_process(provider=provider)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert next(iter(PROVIDER_KEYS[provider])) in last


def test_an_unknown_provider_refuses_to_start():
    result = settings_in_a_process(provider="carrier-pigeon")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "EMAIL_PROVIDER" in last and "carrier-pigeon" in last


def test_the_readme_lists_exactly_the_providers_that_work():
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `EMAIL_PROVIDER`"))
    for provider in PROVIDER_KEYS:
        assert f"`{provider}`" in row, provider


# --- the outbox: a configuration error is permanent -----------------------------------------------
class MissingDependencyBackend:
    """What anymail raises when a provider's package is not installed."""

    def __init__(self, **kwargs):
        raise AnymailImproperlyInstalled(missing_package="boto3", install_extra="amazon-ses")


@pytest.fixture
def kind(monkeypatch):
    failures = []
    monkeypatch.setitem(
        mail.EMAIL_KINDS,
        "probe",
        mail.EmailKind(context=lambda row: {}, on_failed=failures.append),
    )
    monkeypatch.setattr(mail, "render_to_string", lambda name, context: "Hello")
    return failures


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mailer",
    [
        # a provider's key missing: anymail refuses to build the backend
        {"BACKEND": "anymail.backends.postmark.EmailBackend"},
        # a provider whose package is missing
        {"BACKEND": f"{__name__}.MissingDependencyBackend"},
        # a backend that does not exist at all
        {"BACKEND": "anymail.backends.no_such_provider.EmailBackend"},
    ],
)
def test_a_send_that_fails_for_configuration_reasons_fails_at_once(kind, settings, mailer):
    settings.MAILERS = {"default": mailer}
    settings.ANYMAIL = {}
    client = ClientFactory()
    row = OutboundEmail.objects.create(template="probe", to_address="a@example.com", client=client)
    assert send_outbound(row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.FAILED
    assert row.attempts == 1 and row.next_attempt_at is None
    assert kind == [row]  # on the client's history, through the kind's on_failed


# --- Reply-To ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EMAIL_KINDS))
def test_every_client_email_carries_the_practice_reply_to(monkeypatch, name):
    """The practice settings' reply-to address, under the practice's name."""
    monkeypatch.setattr(mail, "render_to_string", lambda template, context: "Hello")
    assume_practice(name="Harbour Lane Studio", reply_to="office@harbourlane.example")
    message = build_message(name, to="client@example.com", context={})
    assert message.reply_to == ["Harbour Lane Studio <office@harbourlane.example>"]
    assert "Reply-To: Harbour Lane Studio <office@harbourlane.example>" in str(message.message())


def test_without_a_reply_to_the_email_has_none(monkeypatch):
    monkeypatch.setattr(mail, "render_to_string", lambda template, context: "Hello")
    assume_practice(reply_to="")
    message = build_message(sorted(EMAIL_KINDS)[0], to="client@example.com", context={})
    assert message.reply_to == []


@pytest.mark.django_db
def test_the_card_email_sent_by_the_outbox_has_the_reply_to(staff):
    update_practice(
        data=settings_form(name="Harbour Lane", reply_to="office@harbourlane.example"), actor=staff
    )
    request_payment_card(client=ClientFactory(email="pat@example.com"), actor=staff, reason="Piano")
    for row in OutboundEmail.objects.all():
        assert send_outbound(row.pk) == "sent"
    assert [m.reply_to for m in django_mail.outbox] == [
        ["Harbour Lane <office@harbourlane.example>"]
    ]
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.EMAIL_SENT).count() == 1
