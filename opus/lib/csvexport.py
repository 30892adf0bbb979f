"""CSV downloads for the practice's accountant: streamed row by row, safe to open
in a spreadsheet.

A cell a spreadsheet would read as a formula (it starts with = + - @, a tab or a
carriage return: "CSV injection") gets a leading apostrophe, so it shows as the
text it is. Only text cells are escaped: numbers, dates and amounts are written
by Opus itself. Dates are ISO 8601, times in the practice's time zone, amounts
plain decimals (a separate currency column says which).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

from opus.lib.money import round_money

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
CHUNK_SIZE = 2000  # rows fetched per round trip from a server-side cursor


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def amount(value: Decimal | None, currency: str) -> Decimal | None:
    """An amount at the currency's precision, written without symbol or grouping:
    1234.50 (a number, so ``cell`` does not escape it)."""
    return None if value is None else round_money(value, currency)


class _Echo:
    """A file that hands back what is written: csv.writer formats, we stream."""

    def write(self, value: str) -> str:
        return value


def csv_download(filename: str, header: list[str], rows: Iterable[Iterable]):
    """A streamed CSV attachment: ``rows`` is consumed only as the response is sent
    (pass a queryset's ``iterator(chunk_size=CHUNK_SIZE)``, mapped to tuples)."""
    writer = csv.writer(_Echo())

    def lines():
        # a byte order mark: spreadsheets then read the file as UTF-8
        yield "\ufeff" + writer.writerow(header)
        for row in rows:
            yield writer.writerow([cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def dated_filename(stem: str) -> str:
    return f"{stem}-{timezone.localdate().isoformat()}.csv"
