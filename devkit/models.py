"""The development kit's tables. They kept the names they had when they lived in
opus and billing (migrations move them without touching the database)."""

from django.db import models

from opus.lib.fields import money_field


class DevMail(models.Model):
    """A message 'sent' in development, readable by staff at /dev/mail/."""

    to = models.TextField()
    from_email = models.CharField(max_length=255)
    subject = models.CharField(max_length=500)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    message_id = models.CharField(max_length=255)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "opus_devmail"
        ordering = ["-sent_at", "-pk"]

    def __str__(self) -> str:
        return self.subject


class SimulatedGatewayCard(models.Model):
    """The simulated processor's vault: what a real processor would keep on its
    side. Opus's own tables only ever see the token."""

    token = models.CharField(max_length=64, unique=True)
    brand = models.CharField(max_length=30)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    behaviour = models.CharField(max_length=30, default="succeed")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "billing_simulatedgatewaycard"

    def __str__(self) -> str:
        return f"{self.brand} {self.last4}"


class SimulatedGatewayCharge(models.Model):
    """The simulated processor's ledger; the idempotency key makes a retried
    charge return the first result instead of charging again."""

    idempotency_key = models.CharField(max_length=100, unique=True)
    charge_id = models.CharField(max_length=64, unique=True)
    token = models.CharField(max_length=64)
    amount = money_field()
    currency = models.CharField(max_length=3)
    succeeded = models.BooleanField()
    decline_code = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "billing_simulatedgatewaycharge"

    def __str__(self) -> str:
        return self.charge_id


class SimulatedGatewayRefund(models.Model):
    """The simulated processor's refunds; the key makes a retried refund return
    the first result instead of refunding again."""

    idempotency_key = models.CharField(max_length=100, unique=True)
    refund_id = models.CharField(max_length=64, unique=True)
    charge_id = models.CharField(max_length=64)
    amount = money_field()
    currency = models.CharField(max_length=3)
    succeeded = models.BooleanField()
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.refund_id
