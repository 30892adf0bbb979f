"""Production as far as it can be run here: its environment and its settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra) -> dict:
    """The environment of a real deployment: without the browser tests' switch."""
    env = {**os.environ, **extra}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


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
