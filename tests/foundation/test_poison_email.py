"""docs/quality.md Reliability 9: a send that keeps killing its worker is set aside after
three tries, and blocks nothing else."""

import pytest

from clients.models import ClientEvent
from opus import mail
from opus.models import OutboundEmail
from opus.services import POISON_AFTER, send_outbound
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """Stands for the worker process dying: nothing below catches it."""


def failed(row):
    ClientEvent.objects.create(
        client=row.client, kind=ClientEvent.Kind.EMAIL_FAILED, summary="Set aside"
    )


@pytest.fixture
def kinds(monkeypatch):
    def poison_context(row):
        raise WorkerKilled

    monkeypatch.setitem(
        mail.EMAIL_KINDS, "poison", mail.EmailKind(context=poison_context, on_failed=failed)
    )
    monkeypatch.setitem(mail.EMAIL_KINDS, "fine", mail.EmailKind(context=lambda row: {}))
    monkeypatch.setattr(mail, "render_to_string", lambda name, context: "Hello")


def test_a_poison_row_is_set_aside_after_three_deaths_and_the_rest_go_out(kinds, mailoutbox):
    client = ClientFactory()
    poison = OutboundEmail.objects.create(
        template="poison", to_address="a@example.com", client=client
    )
    fine = OutboundEmail.objects.create(template="fine", to_address="b@example.com")
    for _ in range(POISON_AFTER):
        with pytest.raises(WorkerKilled):
            send_outbound(poison.pk)
        poison.refresh_from_db()
        assert poison.status == "pending"  # redelivered: still to be sent
    assert send_outbound(poison.pk) == "failed"
    poison.refresh_from_db()
    assert poison.status == "failed" and "set aside" in poison.last_error.lower()
    assert ClientEvent.objects.filter(client=client, kind="email_failed").count() == 1
    assert send_outbound(fine.pk) == "sent"
    assert [m.to for m in mailoutbox] == [["b@example.com"]]


def test_transient_failures_do_not_count_as_deaths(kinds, monkeypatch, mailoutbox):
    row = OutboundEmail.objects.create(template="fine", to_address="c@example.com")
    calls = {"n": 0}
    real_send = mail.EmailMultiAlternatives.send

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= POISON_AFTER + 1:
            raise ConnectionError("provider unavailable")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(mail.EmailMultiAlternatives, "send", flaky)
    results = [send_outbound(row.pk) for _ in range(POISON_AFTER + 2)]
    assert results == ["retry"] * (POISON_AFTER + 1) + ["sent"]
