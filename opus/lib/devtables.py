"""Migration operations for the tables the development kit took over.

The dev mailbox and the simulated card processor moved from opus and billing
into devkit, which only development installs; their tables keep their names, so
a development database keeps its data. Production drops them when they leave
opus's and billing's state: production refuses the dev mailbox and the simulated
processor, so there they are empty (a table that holds rows is left alone).
Should such a database ever run in development, devkit's first migration creates
the tables it misses.
"""

from django.apps import apps as installed_apps
from django.db import migrations


def _present(schema_editor) -> set[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _holds_rows(schema_editor, table: str) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT FROM {schema_editor.quote_name(table)})")  # noqa: S608
        return cursor.fetchone()[0]


def _create_missing(apps, schema_editor, app_label: str, model_names) -> None:
    present = _present(schema_editor)
    for name in model_names:
        model = apps.get_model(app_label, name)
        if model._meta.db_table not in present:
            schema_editor.create_model(model)


def hand_over_to_devkit(app_label: str, *model_names: str) -> migrations.SeparateDatabaseAndState:
    """The models leave app_label's state; without devkit, their empty tables go."""

    def drop_unless_devkit(apps, schema_editor):
        if installed_apps.is_installed("devkit"):
            return
        present = _present(schema_editor)
        for name in model_names:
            table = apps.get_model(app_label, name)._meta.db_table
            if table in present and not _holds_rows(schema_editor, table):
                schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(table)}")

    def restore(apps, schema_editor):
        _create_missing(apps, schema_editor, app_label, model_names)

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.DeleteModel(name) for name in model_names],
        database_operations=[migrations.RunPython(drop_unless_devkit, restore)],
    )


def create_missing_tables(app_label: str, *model_names: str) -> migrations.RunPython:
    """Create the tables of these models that the database lacks."""

    def create(apps, schema_editor):
        _create_missing(apps, schema_editor, app_label, model_names)

    return migrations.RunPython(create, migrations.RunPython.noop)
