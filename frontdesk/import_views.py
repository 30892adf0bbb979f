"""Import (staff only): upload a CSV file, read the dry run, then "Import". A job's
page polls its progress fragment every second while the worker runs it. A
practitioner gets 403 on the upload page and 404 on any job."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from frontdesk import imports
from frontdesk.import_forms import ImportForm
from frontdesk.models import ImportJob
from opus.lib.errors import BusinessRuleError
from opus.lib.htmx import page_or_fragment

RECENT_JOBS = 10
SHOWN_ERRORS = 200


def _require_staff(request) -> None:
    if not imports.can_import(request.user):
        raise PermissionDenied("Only staff can import.")


def _formats():
    return [
        {
            "kind": kind,
            "label": label,
            "columns": imports.COLUMNS[kind],
            "required": imports.REQUIRED[kind],
        }
        for kind, label in ImportJob.Kind.choices
    ]


@require_http_methods(["GET", "POST"])
def import_start(request):
    _require_staff(request)
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = imports.start_import(
                    kind=form.cleaned_data["kind"],
                    filename=upload.name,
                    data=upload.read(),
                    actor=request.user,
                )
            except BusinessRuleError as error:
                form.add_error("file" if error.field in (None, "file") else "kind", error.message)
            else:
                return redirect("clients:import-job", job_id=job.public_id)
        status = 400
    context = {
        "section": "clients",
        "form": form,
        "formats": _formats(),
        "jobs": ImportJob.objects.visible_to(request.user)
        .defer("content", "errors")
        .select_related("created_by")[:RECENT_JOBS],
        "max_rows": imports.MAX_ROWS,
    }
    return render(request, "frontdesk/imports/start.html", context, status=status)


@require_GET
def import_example(request):
    """An example file to download: ``?kind=clients`` or ``?kind=relationships``."""
    _require_staff(request)
    kind = request.GET.get("kind", "")
    if kind not in imports.COLUMNS:
        raise Http404("No such example.")
    response = HttpResponse(imports.example_csv(kind), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
    return response


def _job_or_404(request, job_id) -> ImportJob:
    return get_object_or_404(
        ImportJob.objects.visible_to(request.user).defer("content"), public_id=job_id
    )


def _job_page(request, job, *, refusal="", status=200):
    context = {
        "section": "clients",
        "job": job,
        "errors": job.errors[:SHOWN_ERRORS],
        "more_errors": max(0, job.counts.get("refused", len(job.errors)) - SHOWN_ERRORS),
        "refusal": refusal,
    }
    response = render(
        request,
        page_or_fragment(request, "frontdesk/imports/job.html", "progress"),
        context,
        status=status,
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def import_job(request, job_id):
    job = _job_or_404(request, job_id)
    return _job_page(request, job)


@require_POST
def import_confirm(request, job_id):
    job = _job_or_404(request, job_id)
    try:
        job = imports.confirm_import(job=job, actor=request.user)
    except BusinessRuleError as error:
        return _job_page(request, job, refusal=error.message, status=400)
    return redirect("clients:import-job", job_id=job.public_id)
