"""Bringing a practice's clients and who pays for them in from another product, as
CSV files: each file is checked first (the dry run: what would be created, updated
or left unchanged, and every refused row with its line number), then imported.

Plain ``csv`` and our own services, not django-import-export: that library is built
around the admin and model resources and writes rows itself, past the services, so
an imported client would get no history line, no permission check and other rules
than a client typed into the form. Here every row goes through the services the
pages use (``create_client``, ``update_contact_details``, ``create_relationship``),
checked by the same fields (``clients.fields.clean_details``).

The rules, as the import page states them:

- A row is matched to a client by ``external_id`` (stored on the client, unique),
  else by email (case-insensitive); every clients row needs one of the two, so a
  second run of the same file finds each client again and creates nobody new.
- A blank cell never erases what Opus holds; a filled one that differs updates it.
- A leading apostrophe before = + - @ (what Opus's own export adds against CSV
  injection) is taken off, so an exported file imports back as it was.
- Each row is its own transaction, and the import starts only after a dry run with
  no refused row. A row refused at import time all the same (someone changed a
  client meanwhile) is listed with its line; the rows before and after it are kept,
  and importing the corrected file again adds only what is missing.
- Small files run in the request; larger ones (over ``INLINE_ROWS`` rows) in the
  background worker, the page polling the job's progress.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, time

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from clients.fields import clean_details
from clients.models import EXTERNAL_ID_MAX_LENGTH, Client
from clients.services import (
    CONTACT_FIELDS,
    NAME_FIELDS,
    create_client,
    set_external_id,
    update_contact_details,
)
from frontdesk import tasks
from frontdesk.enrolments import _check_enrolment as check_enrolment
from frontdesk.enrolments import enrol_client
from frontdesk.models import ImportJob
from opus.lib.actors import require_actor
from opus.lib.errors import BusinessRuleError
from opus.models import User
from relationships.models import Relationship
from relationships.services import create_relationship
from scheduling.models import Session, Subscription

logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
INLINE_ROWS = 200  # more rows than this: the background worker
PROGRESS_EVERY = 100
MAX_ERRORS = 1000  # listed; the count says how many more
CELL_MAX_LENGTH = 5000

COLUMNS = {
    ImportJob.Kind.CLIENTS: (
        "external_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "address",
        "notes",
    ),
    ImportJob.Kind.RELATIONSHIPS: ("attendee", "payer", "practitioner"),
    ImportJob.Kind.ENROLMENTS: (
        "client",
        "service",
        "weekday",
        "start_time",
        "first_date",
        "payer",
    ),
}
REQUIRED = {
    ImportJob.Kind.CLIENTS: ("first_name", "last_name"),
    ImportJob.Kind.RELATIONSHIPS: ("attendee",),
    ImportJob.Kind.ENROLMENTS: ("client", "service", "weekday", "start_time", "first_date"),
}
EXAMPLES = {
    ImportJob.Kind.CLIENTS: [
        COLUMNS[ImportJob.Kind.CLIENTS],
        (
            "A-1001",
            "Maria",
            "Lopez",
            "maria@example.com",
            "+44 20 7946 0958",
            "1985-03-14",
            "1 High Street, London N1 1AA",
            "",
        ),
        ("A-1002", "Leo", "Lopez", "", "", "2015-06-02", "", "Maria's son"),
    ],
    ImportJob.Kind.RELATIONSHIPS: [
        COLUMNS[ImportJob.Kind.RELATIONSHIPS],
        ("A-1001", "self", ""),
        ("A-1002", "maria@example.com", ""),
    ],
    ImportJob.Kind.ENROLMENTS: [
        COLUMNS[ImportJob.Kind.ENROLMENTS],
        ("A-1002", "Piano, 30 min private", "Monday", "16:00", "2027-01-04", "maria@example.com"),
    ],
}
FORMULA_STARTS = ("=", "+", "-", "@")
RACED = "Another import added this client at the same moment: import the file again."
FAILED = (
    "The import stopped on an unexpected error; the rows before it are kept. Importing "
    "the file again adds only what is missing."
)


class ImportRefused(BusinessRuleError):
    """The file as a whole cannot be read: too large, not text, no header."""

    def __init__(self, message: str):
        super().__init__(message, field="file")


def can_import(user) -> bool:
    require_actor(user)
    return user.is_authenticated and user.is_practice_staff


def _require_staff(actor) -> None:
    if not can_import(actor):
        raise PermissionDenied("Only staff may import.")


def example_csv(kind: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(EXAMPLES[kind])
    return out.getvalue()


# --- reading the file ------------------------------------------------------------------------


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise ImportRefused(
            f"The file is {len(data) / 1024 / 1024:.1f} MB: the limit is "
            f"{MAX_BYTES // 1024 // 1024} MB. Split it into several files."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused(
            "The file is not UTF-8 text. In your spreadsheet, save it as "
            "“CSV UTF-8 (comma delimited)” and upload that."
        ) from error
    if "\x00" in text:
        raise ImportRefused("The file holds binary data, not CSV text: upload a .csv file.")
    return text


def _cell(value: str) -> str:
    value = value.strip()
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_STARTS:
        value = value[1:]  # the apostrophe Opus's own export adds
    return value


def parse(text: str, kind: str) -> list[tuple[int, dict]]:
    """The file's rows as (line number, {column: value}); the header is line 1. Blank
    lines are skipped. Refused as a whole when the header is wrong or too many rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportRefused("The file is empty: the first line names the columns.")
        names = [name.strip().lower().replace(" ", "_") for name in header]
        known = COLUMNS[kind]
        unknown = [name for name in names if name and name not in known]
        if unknown:
            raise ImportRefused(
                f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown[:5])}. "
                f"The columns are: {', '.join(known)}."
            )
        missing = [name for name in REQUIRED[kind] if name not in names]
        if missing:
            raise ImportRefused(
                f"The first line must name the columns; missing: {', '.join(missing)}."
            )
        if len(set(names) - {""}) != len([n for n in names if n]):
            raise ImportRefused("A column is named twice in the first line.")
        rows = []
        start = reader.line_num + 1
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(value.strip() for value in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportRefused(
                    f"The file has more than {MAX_ROWS:,} rows: split it into several files."
                )
            values = {
                name: _cell(value) for name, value in zip(names, record, strict=False) if name
            }
            if len(record) > len(names):
                values["__extra__"] = "yes"
            rows.append((line, values))
    except csv.Error as error:
        raise ImportRefused(
            f"The file is not readable as CSV near line {reader.line_num}: {error}."
        ) from error
    if not rows:
        raise ImportRefused("The file has a header but no rows.")
    return rows


# --- what each row does -----------------------------------------------------------------------


class _Clients:
    """The clients file: matched by external id, then by email."""

    def __init__(self):
        self.by_external_id: dict[str, int] = {}
        self.by_email: dict[str, list[int]] = {}
        # every client, read once (not a query a row): 10,000 rows are a few MB
        self.clients: dict[int, Client] = {}
        known = Client.objects.annotate(lower_email=Lower("email")).only(
            "external_id", *CONTACT_FIELDS
        )
        for client in known.iterator(chunk_size=2000):
            self.clients[client.pk] = client
            if client.external_id:
                self.by_external_id[client.external_id] = client.pk
            if client.lower_email:
                self.by_email.setdefault(client.lower_email, []).append(client.pk)
        self.seen_external_id: dict[str, int] = {}
        self.seen_email: dict[str, int] = {}

    def check(self, line: int, values: dict) -> tuple[str, dict]:
        """What the row would do: ("created" | "updated" | "unchanged", plan)."""
        if values.pop("__extra__", None):
            raise BusinessRuleError("This row has more cells than the header has columns.")
        if any(len(v) > CELL_MAX_LENGTH for v in values.values()):
            raise BusinessRuleError(f"A cell is longer than {CELL_MAX_LENGTH} characters.")
        external_id = values.get("external_id", "")
        if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            raise BusinessRuleError(
                f"external_id: at most {EXTERNAL_ID_MAX_LENGTH} characters.", field="external_id"
            )
        details = {name: values[name] for name in CONTACT_FIELDS if values.get(name)}
        try:
            cleaned = clean_details(
                {**details, **{n: values.get(n, "") for n in NAME_FIELDS}}, required=NAME_FIELDS
            )
        except BusinessRuleError as error:
            raise BusinessRuleError(f"{error.field}: {error.message}", field=error.field) from error
        email = cleaned.get("email", "").lower()
        if not external_id and not email:
            raise BusinessRuleError(
                "Give an external_id or an email, so that importing the file again finds "
                "this client instead of adding them twice."
            )
        if external_id and external_id in self.seen_external_id:
            raise BusinessRuleError(
                f"The same external_id as line {self.seen_external_id[external_id]}."
            )
        if email and email in self.seen_email:
            raise BusinessRuleError(f"The same email as line {self.seen_email[email]}.")
        pk = self.by_external_id.get(external_id) if external_id else None
        if pk is None and email:
            matches = self.by_email.get(email, [])
            if len(matches) > 1:
                raise BusinessRuleError(
                    f"{len(matches)} clients in Opus have the email {email}: give this row "
                    "an external_id, or merge them first."
                )
            pk = matches[0] if matches else None
        if external_id:
            self.seen_external_id[external_id] = line
        if email:
            self.seen_email[email] = line
        if pk is None:
            return "created", {"data": cleaned, "external_id": external_id}
        client = self.clients[pk]
        if external_id and client.external_id and client.external_id != external_id:
            raise BusinessRuleError(
                f"The client with the email {email} has the external_id "
                f"{client.external_id} in Opus, not {external_id}."
            )
        changed = {
            name: value
            for name, value in cleaned.items()
            if value not in ("", None) and getattr(client, name) != value
        }
        new_external_id = external_id if external_id and not client.external_id else ""
        if not changed and not new_external_id:
            return "unchanged", {"client": client}
        return "updated", {"client": client, "changed": changed, "external_id": new_external_id}

    def apply(self, outcome: str, plan: dict, *, actor) -> None:
        if outcome == "created":
            create_client(
                data=plan["data"],
                actor=actor,
                allow_duplicates=True,  # matched by external id or email already
                external_id=plan["external_id"],
            )
        elif outcome == "updated":
            client = plan["client"]
            if plan["changed"]:
                update_contact_details(client=client, data=plan["changed"], actor=actor)
            if plan["external_id"]:
                set_external_id(client=client, external_id=plan["external_id"], actor=actor)


class _Relationships:
    """The relationships file: attendee and payer by external id or email ("self",
    or blank: the attendee pays), the practitioner by username (blank: any)."""

    def __init__(self):
        self.seen: dict[tuple, int] = {}

    def _client(self, reference: str, column: str) -> Client:
        matches = list(Client.objects.filter(external_id=reference)[:1])
        if not matches:
            matches = list(Client.objects.filter(email__iexact=reference)[:2])
        if not matches:
            raise BusinessRuleError(
                f"{column}: no client has the external_id or email {reference}. "
                "Import the clients file first."
            )
        if len(matches) > 1:
            raise BusinessRuleError(
                f"{column}: several clients have the email {reference}: use their external_id."
            )
        client = matches[0]
        if client.archived_at is not None:
            raise BusinessRuleError(f"{column}: {client.full_name} is archived.")
        return client

    def check(self, line: int, values: dict) -> tuple[str, dict]:
        if values.pop("__extra__", None):
            raise BusinessRuleError("This row has more cells than the header has columns.")
        reference = values.get("attendee", "")
        if not reference:
            raise BusinessRuleError("attendee: give the attendee's external_id or email.")
        attendee = self._client(reference, "attendee")
        payer_reference = values.get("payer", "")
        payer = (
            attendee
            if payer_reference.lower() in ("", "self")
            else self._client(payer_reference, "payer")
        )
        practitioner = None
        if username := values.get("practitioner", ""):
            practitioner = User.objects.filter(
                username=username, role=User.Role.PRACTITIONER, is_active=True
            ).first()
            if practitioner is None:
                raise BusinessRuleError(
                    f"practitioner: no active practitioner has the username {username}."
                )
        key = (attendee.pk, payer.pk, getattr(practitioner, "pk", None))
        if key in self.seen:
            raise BusinessRuleError(f"The same relationship as line {self.seen[key]}.")
        self.seen[key] = line
        plan = {"payer": payer, "attendee": attendee, "practitioner": practitioner}
        if Relationship.objects.active().filter(**plan).exists():
            return "unchanged", plan
        return "created", plan

    def apply(self, outcome: str, plan: dict, *, actor) -> None:
        if outcome == "created":
            create_relationship(**plan, actor=actor)


class _Enrolments:
    """The enrolments file: the client (external id or email) into the session of a
    service on a weekday at a start time, from a first date, paid by ``payer``
    (external id or email; "self" or blank: the client) under their active
    relationship. Through ``enrol_client``: the subscription and its first invoice."""

    def __init__(self):
        self.clients = _Relationships()
        self.seen: dict[tuple, int] = {}

    def check(self, line: int, values: dict) -> tuple[str, dict]:
        if values.pop("__extra__", None):
            raise BusinessRuleError("This row has more cells than the header has columns.")
        client = self.clients._client(values.get("client", "") or "(blank)", "client")
        payer_reference = values.get("payer", "")
        payer = (
            client
            if payer_reference.lower() in ("", "self")
            else self.clients._client(payer_reference, "payer")
        )
        weekday = WEEKDAY_NAMES.get(values.get("weekday", "").lower())
        if weekday is None:
            raise BusinessRuleError("weekday: write the day's name, e.g. Monday.")
        try:
            start_time = time.fromisoformat(values.get("start_time", ""))
            first_date = date.fromisoformat(values.get("first_date", ""))
        except ValueError as error:
            raise BusinessRuleError(
                "start_time as 16:00 and first_date as 2027-01-04, please."
            ) from error
        service = values.get("service", "")
        sessions = list(
            Session.objects.filter(
                service__name__iexact=service, weekday=weekday, start_time=start_time
            )
            .filter(Q(last_date__isnull=True) | Q(last_date__gte=first_date))
            .select_related("service", "practitioner")[:2]
        )
        if len(sessions) != 1:
            found = "No session" if not sessions else "Several sessions"
            raise BusinessRuleError(
                f"{found} of {service or '(no service)'} on {WEEKDAYS[weekday]}s at "
                f"{start_time:%H:%M} running on {first_date:%-d %b %Y}."
            )
        session = sessions[0]
        relationship = (
            Relationship.objects.active()
            .filter(attendee=client, payer=payer)
            .filter(Q(practitioner__isnull=True) | Q(practitioner=session.practitioner))
            .order_by("-practitioner_id", "pk")
            .first()
        )
        if relationship is None:
            raise BusinessRuleError(
                f"No active relationship in which {payer.full_name} pays for "
                f"{client.full_name}: import the relationships file first."
            )
        key = (client.pk, session.pk)
        if key in self.seen:
            raise BusinessRuleError(f"The same client and session as line {self.seen[key]}.")
        self.seen[key] = line
        plan = {
            "client": client,
            "session": session,
            "relationship": relationship,
            "first_date": first_date,
        }
        if (
            Subscription.objects.filter(client=client, session=session)
            .filter(Q(end_date__isnull=True) | Q(end_date__gt=first_date))
            .exists()
        ):
            return "unchanged", plan
        check_enrolment(**plan)
        return "created", plan

    def apply(self, outcome: str, plan: dict, *, actor) -> None:
        if outcome == "created":
            enrol_client(
                **plan,
                actor=actor,
                request_key=f"import-{plan['client'].pk}-{plan['session'].pk}-{plan['first_date']}",
            )


WEEKDAYS = dict(Session.WEEKDAYS)
WEEKDAY_NAMES = {
    **{name.lower(): number for number, name in Session.WEEKDAYS},
    **{name.lower()[:3]: number for number, name in Session.WEEKDAYS},
}
HANDLERS = {
    ImportJob.Kind.CLIENTS: _Clients,
    ImportJob.Kind.RELATIONSHIPS: _Relationships,
    ImportJob.Kind.ENROLMENTS: _Enrolments,
}


# --- the job ---------------------------------------------------------------------------------


def start_import(*, kind: str, filename: str, data: bytes, actor) -> ImportJob:
    """A new import job for an uploaded file (staff only): the file is read and its
    header checked now (``ImportRefused`` says what is wrong), its rows by the dry run,
    in the request for a small file, else in the background."""
    _require_staff(actor)
    if kind not in HANDLERS:
        raise BusinessRuleError("Choose what the file holds.", field="kind")
    text = decode(data)
    rows = parse(text, kind)
    job = ImportJob.objects.create(
        kind=kind,
        filename=(filename or "upload.csv")[:200],
        content=text,
        total_rows=len(rows),
        created_by=actor,
    )
    _run_or_queue(job)
    return job


def confirm_import(*, job: ImportJob, actor) -> ImportJob:
    """ "Import": the checked file's rows written. Refused while the dry run has
    refused rows; a second click (or a replay) changes nothing."""
    _require_staff(actor)
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in (ImportJob.Status.IMPORTING, ImportJob.Status.DONE):
            return locked
        if locked.status != ImportJob.Status.CHECKED:
            raise BusinessRuleError("The dry run has not finished yet.")
        if locked.errors:
            raise BusinessRuleError(
                "Correct the rows listed and upload the file again: nothing is imported "
                "while a row is refused."
            )
        locked.status = ImportJob.Status.IMPORTING
        locked.processed_rows = 0
        locked.save(update_fields=["status", "processed_rows"])
    _run_or_queue(locked)
    return locked


def _run_or_queue(job: ImportJob) -> None:
    if job.total_rows <= INLINE_ROWS:
        run_job(job.pk)
        job.refresh_from_db()
    else:
        tasks.run_import.delay(job.pk)


def run_job(job_id: int) -> None:
    """The dry run or the import, whichever the job waits for (the worker's entry;
    run again after a crash, it starts over: every row is matched again, so nothing
    is made twice)."""
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if job.status == ImportJob.Status.CHECKING:
        _process(job, write=False)
    elif job.status == ImportJob.Status.IMPORTING:
        _process(job, write=True)


def _process(job: ImportJob, *, write: bool) -> None:
    actor = job.created_by
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors: list[dict] = []
    refused = 0
    try:
        rows = parse(job.content, job.kind)
        handler = HANDLERS[job.kind]()
        for done, (line, values) in enumerate(rows, start=1):
            try:
                if write:
                    with transaction.atomic():
                        outcome, plan = handler.check(line, values)
                        handler.apply(outcome, plan, actor=actor)
                else:
                    outcome, _plan = handler.check(line, values)
                counts[outcome] += 1
            except BusinessRuleError as error:
                refused += 1
                if len(errors) < MAX_ERRORS:
                    errors.append({"line": line, "message": error.message})
            except IntegrityError:  # another import made the same client meanwhile
                refused += 1
                if len(errors) < MAX_ERRORS:
                    errors.append({"line": line, "message": RACED})
            if done % PROGRESS_EVERY == 0:
                ImportJob.objects.filter(pk=job.pk).update(processed_rows=done)
    except (BusinessRuleError, PermissionDenied) as error:
        message = getattr(error, "message", None) or str(error)
        errors.append({"line": 0, "message": message})
        _failed(job, errors)
        return
    except Exception:  # a bug: say so on the page instead of polling for ever
        logger.exception("import %s failed", job.pk)
        errors.append({"line": 0, "message": FAILED})
        _failed(job, errors)
        return
    counts["refused"] = refused
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE if write else ImportJob.Status.CHECKED,
        processed_rows=job.total_rows,
        counts=counts,
        errors=errors,
        finished_at=timezone.now() if write else None,
    )
    logger.info("import %s %s: %s", job.pk, "done" if write else "checked", counts)


def _failed(job: ImportJob, errors: list[dict]) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, errors=errors, finished_at=timezone.now()
    )
