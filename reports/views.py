"""The reports' pages (staff only): one per report, its filters in the address, the
full page or its results fragment (htmx), and the same table as a CSV file."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from opus.lib.csvexport import csv_download
from opus.lib.htmx import page_or_fragment
from reports.forms import ReportForm
from reports.permissions import can_view_reports
from reports.reports import REPORTS, Report, shown, written


def _check(request) -> None:
    if not can_view_reports(request.user):
        raise PermissionDenied("Only staff can see the reports.")


def _report(slug: str) -> Report:
    try:
        return REPORTS[slug]
    except KeyError:
        raise Http404("No such report.") from None


@require_GET
def index(request):
    _check(request)
    return render(
        request, "reports/index.html", {"section": "reports", "reports": REPORTS.values()}
    )


@require_GET
def report_page(request, slug: str):
    _check(request)
    report = _report(slug)
    form = ReportForm(request.GET, fields=report.fields, groups=report.groups)
    filters = form.filters()
    table = report.build(filters)
    rows = [[(shown(c, row), c.numeric) for c in table.columns] for row in table.rows]
    totals = [[(shown(c, row), c.numeric) for c in table.columns] for row in table.totals]
    return render(
        request,
        page_or_fragment(request, "reports/report.html", "results"),
        {
            "section": "reports",
            "report": report,
            "reports": REPORTS.values(),
            "form": form,
            "filters": filters,
            "table": table,
            "rows": rows,
            "totals": totals,
        },
    )


@require_GET
def report_csv(request, slug: str):
    _check(request)
    report = _report(slug)
    filters = ReportForm(request.GET, fields=report.fields, groups=report.groups).filters()
    table = report.build(filters)
    span = (
        f"{filters.as_of:%Y-%m-%d}"
        if "as_of" in report.fields
        else f"{filters.first:%Y-%m-%d}-to-{filters.last:%Y-%m-%d}"
    )
    rows = [[written(c, row) for c in table.columns] for row in [*table.rows, *table.totals]]
    return csv_download(f"{report.slug}-{span}.csv", [c.label for c in table.columns], rows)
