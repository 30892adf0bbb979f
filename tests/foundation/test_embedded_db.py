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
    from opus import devdb
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
        [sys.executable, "-c", "from opus import devdb; devdb.stop()"],
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
        [sys.executable, "-c", "from opus import devdb; devdb.stop()"],
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
