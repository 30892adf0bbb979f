"""What can be tested of production here: settings, the deploy checks, the
compose file's commands, migrations and the linter."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra) -> dict:
    """The environment of a real deployment: without the browser tests' switch."""
    env = {**os.environ, **extra}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


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


PRODUCTION = {
    "OPUS_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "opus.example.com",
    "EMAIL_PROVIDER": "postmark",
    "ANYMAIL_POSTMARK_SERVER_TOKEN": "test-token",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    # production refuses the simulated processor, and no real one ships yet
    "OPUS_PAYMENT_GATEWAY": "tests.foundation.stand_in_gateway.StandInGateway",
}


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


def production_settings(printed: str, **env) -> str:
    """What ``print(<printed>)`` shows of the production settings (``s``), with a
    database URL as a deployment sets it."""
    code = f"from django.conf import settings as s; print({printed})"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean_env(
            **PRODUCTION,
            DJANGO_SETTINGS_MODULE="opus.settings",
            DATABASE_URL="postgres://u:p@db:5432/opus",
            **env,
        ),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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
