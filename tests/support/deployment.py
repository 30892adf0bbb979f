"""Production as far as it can be run here: its environment and its settings."""

import contextlib
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

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


STRONG_KEY = "k7Qx" + "pR2v-Wm9sLt4Zy8NcB3hJf6DgA1eXu5KoT0iVbYq" + "Hn7Ue2Rs"


def compose_gunicorn_command(port: int, control_dir: Path) -> list[str]:
    """docker-compose.yml's gunicorn command line, bound to a free loopback port."""
    compose = (ROOT / "docker-compose.yml").read_text()
    words = shlex.split(re.search(r"gunicorn opus\.wsgi[^\"]*", compose).group(0))
    command, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--bind", "-b", "--control-socket"):
            skip = True
        else:
            command.append(word)
    command[0] = str(Path(sys.executable).parent / "gunicorn")
    return [
        *command,
        *("--bind", f"127.0.0.1:{port}"),
        *("--control-socket", str(control_dir / "gunicorn.ctl")),
        *("--workers", "1"),
    ]


def url_of_the_test_database() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    host = db["HOST"] or db["OPTIONS"].get("host", "")
    if host.startswith("/"):  # a unix socket folder (the embedded server)
        return f"postgres://{user}:{password}@/{db['NAME']}?host={quote(host, safe='/')}"
    return f"postgres://{user}:{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def production_env(**extra) -> dict:
    env = {
        **os.environ,
        "OPUS_ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "EMAIL_PROVIDER": "postmark",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "test-token",
        "OPUS_PAYMENT_GATEWAY": "tests.foundation.stand_in_gateway.StandInGateway",
        "DATABASE_URL": url_of_the_test_database(),
        "LOG_LEVEL": "INFO",
        **extra,
    }
    for name in ("REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"):
        env.pop(name, None)
    return env


@contextlib.contextmanager
def production_server(folder: Path, port: int, static_root: Path | None = None, **env):
    """gunicorn as docker-compose runs it, on the test database, its static files
    collected (hashed and compressed) as the production image builds them, into
    ``static_root`` if given (kept: collected again only when missing); yields its
    base URL. Requests must say X-Forwarded-Proto: https, as the TLS proxy does."""
    static_root = static_root or folder / "static"
    environment = production_env(STATIC_ROOT=str(static_root), **env)
    if not (static_root / ".collected").exists():
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=environment,
            check=True,
            timeout=900,
        )
        (static_root / ".collected").touch()  # compressed too: whitenoise's last step
    log = open(folder / "gunicorn.log", "w+")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        compose_gunicorn_command(port, folder),
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
