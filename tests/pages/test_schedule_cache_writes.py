"""Which SQL statements count as writes to the schedule (scheduling/schedule_cache.py):
every write to the tables it shows, whatever path it takes; no read; not a login."""

import pytest

from scheduling.schedule_cache import changes_schedule, watched_tables


@pytest.mark.parametrize(
    "sql",
    [
        'INSERT INTO "scheduling_subscription" ("client_id") VALUES (%s)',
        'UPDATE "scheduling_sessiondate" SET "cancelled" = %s WHERE "id" IN (%s)',
        'DELETE FROM "scheduling_booking" WHERE "id" = %s',
        'UPDATE "clients_client" SET "first_name" = %s WHERE "clients_client"."id" = %s',
        'UPDATE "relationships_relationship" SET "status" = %s WHERE "id" = %s',
        'UPDATE "opus_user" SET "is_active" = %s WHERE "opus_user"."id" = %s',
        'UPDATE "opus_user" SET "last_login" = %s, "first_name" = %s WHERE "id" = %s',
        'UPDATE "opus_practice" SET "cancel_notice_hours" = %s WHERE "id" = %s',
        "  insert into scheduling_attendance (mark) values ('present')",
        'TRUNCATE "scheduling_room", "scheduling_service"',
        'WITH moved AS (UPDATE "scheduling_subscription" SET "end_date" = %s) SELECT 1',
    ],
)
def test_a_write_to_what_the_schedule_shows_counts(sql):
    assert changes_schedule(sql)


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "scheduling_subscription"."id" FROM "scheduling_subscription" FOR UPDATE',
        'UPDATE "opus_user" SET "last_login" = %s WHERE "opus_user"."id" = %s',
        'INSERT INTO "billing_invoice" ("payer_id") VALUES (%s)',
        'INSERT INTO "django_session" ("session_key") VALUES (%s)',
        'INSERT INTO "schedule_version" ("id", "token") VALUES (%s, %s)',
        'UPDATE "opus_schedule_cache" SET "value" = %s WHERE "cache_key" = %s',
        'SAVEPOINT "s1"',
        "EXPLAIN SELECT 1 FROM scheduling_sessiondate",
    ],
)
def test_a_read_or_another_table_does_not(sql):
    assert not changes_schedule(sql)


def test_every_table_of_the_schedule_is_watched():
    tables = watched_tables()
    for table in (
        "scheduling_sessiondate",
        "scheduling_session",
        "scheduling_subscription",
        "scheduling_dateabsence",
        "scheduling_booking",
        "scheduling_attendance",
        "scheduling_closure",
        "scheduling_service",
        "scheduling_room",
        "clients_client",
        "relationships_relationship",
        "opus_user",
        "opus_practice",
    ):
        assert table in tables
    assert "schedule_version" not in tables
