from django.db import migrations

from opus.lib.devtables import hand_over_to_devkit


class Migration(migrations.Migration):
    dependencies = [
        ("opus", "0002_outbox_claims"),
    ]

    operations = [hand_over_to_devkit("opus", "DevMail")]
