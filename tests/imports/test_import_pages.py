"""The Import pages: upload, dry run, Import; staff only; files refused with a reason;
the job's progress fragment polled while the worker runs it."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clients.models import Client
from frontdesk import imports
from frontdesk.models import ImportJob
from tests.support.imports import import_job

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
GOOD = (
    "external_id,first_name,last_name,email,phone\n"
    "A-1,Maria,Lopez,maria@example.com,\n"
    "A-2,Leo,Lopez,leo@example.com,\n"
)
BAD = GOOD.replace("leo@example.com", "leo-at-example")


def upload(browser, text, kind="clients", name="clients.csv"):
    data = text if isinstance(text, bytes) else text.encode()
    return browser.post(
        reverse("clients:import"),
        {"kind": kind, "file": SimpleUploadedFile(name, data, "text/csv")},
    )


def test_the_page_is_staffs(staff_client, therapist_client, client):
    url = reverse("clients:import")
    page = staff_client.get(url)
    assert page.status_code == 200
    assert b"Check the file" in page.content and b"external_id" in page.content
    assert therapist_client.get(url).status_code == 403
    assert upload(therapist_client, GOOD).status_code == 403
    assert (
        therapist_client.get(reverse("clients:import-example"), {"kind": "clients"}).status_code
        == 403
    )
    assert client.get(url).status_code == 302
    assert not ImportJob.objects.exists()


def test_the_clients_list_links_to_it_for_staff_only(staff_client, therapist_client):
    url = reverse("clients:import").encode()
    assert url in staff_client.get(reverse("clients:list")).content
    assert url not in therapist_client.get(reverse("clients:list")).content


def test_the_example_files_download_and_import_cleanly(staff_client):
    for kind in ("clients", "relationships"):
        got = staff_client.get(reverse("clients:import-example"), {"kind": kind})
        assert got.status_code == 200
        assert got["Content-Disposition"] == f'attachment; filename="{kind}.csv"'
        assert got.content.decode().splitlines()[0] == ",".join(imports.COLUMNS[kind])
    assert staff_client.get(reverse("clients:import-example"), {"kind": "x"}).status_code == 404
    example = staff_client.get(reverse("clients:import-example"), {"kind": "clients"}).content
    job_page = staff_client.get(upload(staff_client, example)["Location"])
    assert b"Would be created" in job_page.content and b"Refused rows" not in job_page.content


def test_a_bad_row_is_named_then_the_fixed_file_imports(staff_client):
    got = upload(staff_client, BAD)
    assert got.status_code == 302
    page = staff_client.get(got["Location"])
    assert b"Line 3" in page.content and b"valid email" in page.content
    assert b">Import</button>" not in page.content
    job = ImportJob.objects.get()
    refused = staff_client.post(reverse("clients:import-confirm", args=[job.public_id]))
    assert refused.status_code == 400 and b"Correct the rows" in refused.content
    assert not Client.objects.exists()

    fixed = staff_client.get(upload(staff_client, GOOD)["Location"])
    assert b">Import</button>" in fixed.content
    job = ImportJob.objects.first()
    url = reverse("clients:import-confirm", args=[job.public_id])
    done = staff_client.post(url)
    assert done.status_code == 302
    assert staff_client.post(url).status_code == 302  # a double submit imports once
    page = staff_client.get(done["Location"])
    assert b"Imported" in page.content and b"See the clients" in page.content
    assert Client.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("first_name,last_name\nÉa,B\n".encode("latin-1"), b"not UTF-8"),
        (bytes(range(256)) * 10, b"not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", b"not UTF-8"),
        (b"", b"The file is empty"),
        (b"a,b\n1,2\n", b"Unknown columns"),
        (b"first_name,last_name\nA,B\x00\n", b"binary"),
    ],
)
def test_garbage_is_refused_with_a_reason(staff_client, data, message):
    got = upload(staff_client, data)
    assert got.status_code == 400
    assert message in got.content, got.content[-2000:]
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_refused_readably(staff_client):
    big = b"first_name,last_name\n" + b"Anna,Bell\n" * (imports.MAX_BYTES // 10 + 1)
    got = upload(staff_client, big)
    assert got.status_code == 400
    assert b"the limit is 5 MB" in got.content
    assert not ImportJob.objects.exists()


def test_no_file_and_no_kind(staff_client):
    got = staff_client.post(reverse("clients:import"), {})
    assert got.status_code == 400
    assert b"Choose a CSV file" in got.content and b"Choose what the file holds" in got.content


def test_the_progress_fragment_polls_while_running(staff_client):
    job = import_job(status=ImportJob.Status.IMPORTING)
    ImportJob.objects.filter(pk=job.pk).update(processed_rows=0, total_rows=4)
    url = reverse("clients:import-job", args=[job.public_id])
    fragment = staff_client.get(url, headers=HX)
    assert "HX-Request" in fragment["Vary"]
    body = fragment.content.decode()
    assert body.lstrip().startswith("<section")
    assert "<h1>" not in body
    assert 'hx-trigger="every 1s"' in body and "0 of 4 rows" in body
    full = staff_client.get(url).content.decode()
    assert "<h1>Import clients.csv</h1>" in full and "Importing" in full
    done = import_job(status=ImportJob.Status.DONE)
    finished = staff_client.get(
        reverse("clients:import-job", args=[done.public_id]), headers=HX
    ).content
    assert b"every 1s" not in finished


def test_the_page_runs_a_fixed_number_of_queries(
    staff_client, staff, django_assert_max_num_queries
):
    for _ in range(12):
        import_job(created_by=staff)
    with django_assert_max_num_queries(8):
        assert staff_client.get(reverse("clients:import")).status_code == 200
    job = import_job(errors=[{"line": n, "message": "Bad"} for n in range(2, 400)])
    ImportJob.objects.filter(pk=job.pk).update(counts={"refused": 398})
    with django_assert_max_num_queries(6):
        page = staff_client.get(reverse("clients:import-job", args=[job.public_id]))
    assert b"And 198 more refused rows" in page.content


@pytest.mark.django_db(transaction=True)
def test_a_large_file_runs_in_the_worker(celery_worker_on_redis, monkeypatch, staff):
    """Over INLINE_ROWS rows, the dry run and the import run in the background worker;
    the request only records the job."""
    monkeypatch.setattr(imports, "INLINE_ROWS", 1)
    rows = "".join(f"W-{n},Walk{chr(97 + n % 26)},Er,w{n}@example.com\n" for n in range(250))
    job = imports.start_import(
        kind="clients",
        filename="big.csv",
        data=("external_id,first_name,last_name,email\n" + rows).encode(),
        actor=staff,
    )
    assert job.status == "checking"
    job = _wait(job, "checked")
    assert job.counts["created"] == 250 and job.processed_rows == 250
    imports.confirm_import(job=job, actor=staff)
    job = _wait(job, "done")
    assert Client.objects.filter(external_id__startswith="W-").count() == 250


def _wait(job, status, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        job.refresh_from_db()
        if job.status == status:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job still {job.status}, wanted {status}")
