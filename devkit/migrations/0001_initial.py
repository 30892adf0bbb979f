"""The development kit's models, taken over from opus (DevMail) and billing (the
simulated processor's vault and ledger) with their tables: the tables exist
already, so this only adds the models to devkit's state (and creates a table a
database lacks, see opus/lib/devtables.py). Their content types and permissions
follow them."""

from django.db import migrations, models

from opus.lib.devtables import create_missing_tables

MOVED = [
    ("opus", "devmail"),
    ("billing", "simulatedgatewaycard"),
    ("billing", "simulatedgatewaycharge"),
]


def adopt_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for old_label, model in MOVED:
        if not content_type.objects.filter(app_label="devkit", model=model).exists():
            content_type.objects.filter(app_label=old_label, model=model).update(app_label="devkit")


def return_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for old_label, model in MOVED:
        if not content_type.objects.filter(app_label=old_label, model=model).exists():
            content_type.objects.filter(app_label="devkit", model=model).update(app_label=old_label)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("opus", "0003_devmail_moves_to_devkit"),
        ("billing", "0007_simulated_gateway_moves_to_devkit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DevMail",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("to", models.TextField()),
                        ("from_email", models.CharField(max_length=255)),
                        ("subject", models.CharField(max_length=500)),
                        ("body_text", models.TextField()),
                        ("body_html", models.TextField(blank=True)),
                        ("message_id", models.CharField(max_length=255)),
                        ("sent_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "opus_devmail",
                        "ordering": ["-sent_at", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="SimulatedGatewayCard",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("token", models.CharField(max_length=64, unique=True)),
                        ("brand", models.CharField(max_length=30)),
                        ("last4", models.CharField(max_length=4)),
                        ("exp_month", models.PositiveSmallIntegerField()),
                        ("exp_year", models.PositiveSmallIntegerField()),
                        ("behaviour", models.CharField(default="succeed", max_length=30)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "billing_simulatedgatewaycard",
                    },
                ),
                migrations.CreateModel(
                    name="SimulatedGatewayCharge",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("idempotency_key", models.CharField(max_length=100, unique=True)),
                        ("charge_id", models.CharField(max_length=64, unique=True)),
                        ("token", models.CharField(max_length=64)),
                        ("amount", models.DecimalField(decimal_places=3, max_digits=14)),
                        ("currency", models.CharField(max_length=3)),
                        ("succeeded", models.BooleanField()),
                        ("decline_code", models.CharField(blank=True, max_length=50)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "billing_simulatedgatewaycharge",
                    },
                ),
            ],
        ),
        create_missing_tables(
            "devkit", "DevMail", "SimulatedGatewayCard", "SimulatedGatewayCharge"
        ),
        migrations.RunPython(adopt_content_types, return_content_types),
    ]
