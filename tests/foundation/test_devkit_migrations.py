"""The development kit's models came from opus (DevMail) and billing (the simulated
processor's vault and ledger) without their tables moving: a development
database keeps its rows, and the content types and permissions follow the models,
both ways."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from devkit.models import DevMail, SimulatedGatewayCard, SimulatedGatewayCharge

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("opus", "0002_outbox_claims"), ("billing", "0006_payment_attempts")]


def migrate(targets=None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def app_label_of(content_type: ContentType) -> str:
    return ContentType.objects.filter(pk=content_type.pk).values_list("app_label", flat=True).get()


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - our own table names
        return cursor.fetchone()[0]


def test_the_moved_models_keep_their_rows_content_types_and_permissions():
    mail = DevMail.objects.create(
        to="a@example.com", from_email="o@example.com", subject="Kept", body_text="", message_id="m"
    )
    card = SimulatedGatewayCard.objects.create(
        token="sim_tok_kept", brand="visa", last4="4242", exp_month=12, exp_year=2040
    )
    mail_type = ContentType.objects.get_for_model(DevMail)
    card_type = ContentType.objects.get_for_model(SimulatedGatewayCard)
    view_mail = Permission.objects.get(content_type=mail_type, codename="view_devmail")

    migrate(BEFORE_THE_MOVE)
    assert (app_label_of(mail_type), app_label_of(card_type)) == ("opus", "billing")
    assert count("opus_devmail") == count("billing_simulatedgatewaycard") == 1

    migrate()
    assert (app_label_of(mail_type), app_label_of(card_type)) == ("devkit", "devkit")
    assert DevMail.objects.get(pk=mail.pk).subject == "Kept"
    assert SimulatedGatewayCard.objects.get(pk=card.pk).token == "sim_tok_kept"
    assert not SimulatedGatewayCharge.objects.exists()
    assert Permission.objects.get(pk=view_mail.pk).content_type_id == mail_type.pk
