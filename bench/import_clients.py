"""Benchmark of a 10,000-client CSV import (frontdesk.imports), the work the background
worker does for a large file:

    .venv/bin/python bench/import_clients.py [--rows 10000]

Uses the bench's own data folder (.data/bench, as bench/run.py), no seed needed.
Measures, in this process against the embedded PostgreSQL, with a fresh run tag so
every run creates new clients:

1. the upload: reading, decoding and parsing the file, and recording the job;
2. the dry run (``run_job`` on a checking job: what the worker runs);
3. the import (``run_job`` on an importing job): every row through create_client,
   with its history line;
4. the same file again: a dry run and an import that create nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the bench's environment


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    env, _ = run.setup_environment()
    run.manage(env, "migrate", "--no-input", "-v", "0")
    os.environ.update(env)

    import django

    django.setup()
    from clients.models import Client
    from frontdesk import imports
    from frontdesk.models import ImportJob
    from opus.models import User

    tag = uuid.uuid4().hex[:8]
    staff, _ = User.objects.get_or_create(
        username="bench-importer", defaults={"role": "staff", "first_name": "Bench"}
    )
    lines = ["external_id,first_name,last_name,email,phone,date_of_birth,address,notes"]
    for n in range(args.rows):
        lines.append(
            f"{tag}-{n},Anna{chr(97 + n % 26)},Bench{chr(97 + n // 26 % 26)},"
            f"{tag}.{n}@example.com,020 7946 {n % 10000:04d},"
            f"19{50 + n % 50}-0{1 + n % 9}-1{n % 10},"
            f'"{n} High Street, London",imported'
        )
    data = ("\n".join(lines) + "\n").encode()
    size = len(data) / 1024 / 1024
    print(f"{args.rows} rows, {size:.2f} MB; {Client.objects.count()} clients before")

    def start():
        imports.INLINE_ROWS = args.rows + 1  # no worker here: run the job in this process
        # the upload itself, without the dry run
        text = imports.decode(data)
        rows = imports.parse(text, "clients")
        return ImportJob.objects.create(
            kind="clients",
            filename="bench.csv",
            content=text,
            total_rows=len(rows),
            created_by=staff,
        )

    for label in ("First run", "Same file again"):
        seconds, job = timed(start)
        print(f"{label}: upload and parse {seconds:.2f} s")
        seconds, _ = timed(lambda job=job: imports.run_job(job.pk))
        job.refresh_from_db()
        print(f"  dry run {seconds:.2f} s: {job.counts}")
        ImportJob.objects.filter(pk=job.pk).update(status="importing", processed_rows=0)
        seconds, _ = timed(lambda job=job: imports.run_job(job.pk))
        job.refresh_from_db()
        print(f"  import  {seconds:.2f} s ({args.rows / seconds:.0f} rows/s): {job.counts}")
    print(f"{Client.objects.count()} clients after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
