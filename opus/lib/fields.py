from django.conf import settings
from django.contrib.postgres.fields import DateRangeField
from django.db import models
from django.db.models import Func

from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS


def money_field(verbose_name=None, **kwargs) -> models.DecimalField:
    return models.DecimalField(
        verbose_name, max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs
    )


def currency_field() -> models.CharField:
    return models.CharField(max_length=3, default=default_currency)


def default_currency() -> str:
    return settings.OPUS_CURRENCY


class DateRange(Func):
    """daterange(lower, upper, bounds): a NULL upper is unbounded."""

    function = "DATERANGE"
    output_field = DateRangeField()


class IdRange(Func):
    """int8range(id, id, '[]'): lets a gist exclusion constraint test equality
    without the btree_gist extension, which embedded PostgreSQL does not ship."""

    function = "INT8RANGE"
    template = "%(function)s(%(expressions)s, %(expressions)s, '[]')"

    def __init__(self, field: str):
        from django.contrib.postgres.fields import BigIntegerRangeField

        super().__init__(models.F(field), output_field=BigIntegerRangeField())
