from django.db import migrations

from opus.lib.devtables import hand_over_to_devkit


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_payment_attempts"),
    ]

    operations = [hand_over_to_devkit("billing", "SimulatedGatewayCard", "SimulatedGatewayCharge")]
