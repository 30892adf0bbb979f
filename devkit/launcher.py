"""`make run`: the database, the migrations, the demo, the web server and a real
worker, all stopped together by Ctrl-C.

``make`` dies on Ctrl-C before a cleanup line runs, and honcho SIGKILLs a slow
worker, so this small launcher owns the processes: it starts the embedded
database (or attaches to a running one) and hands its DATABASE_URL to every
child, traps SIGINT/SIGTERM, stops the children, then stops the database if it
started it.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devkit import devdb

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, check=True)  # noqa: S603


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opus.settings")
    os.environ.setdefault("OPUS_PUBLIC_URL", f"http://{HOST}:{PORT}")
    started_database = False
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = devdb.ensure_running()
        started_database = devdb.started_here
    if not os.environ.get("REDIS_URL"):
        devdb.ensure_broker_folders()
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children: list[subprocess.Popen] = []
    try:
        manage("migrate", "--no-input", "-v", "0")
        manage("createcachetable")
        manage("seed_demo")
        children.append(
            subprocess.Popen(  # noqa: S603
                [PYTHON, "manage.py", "runserver", f"{HOST}:{PORT}"],
                cwd=BASE_DIR,
                start_new_session=True,
            )
        )
        children.append(
            subprocess.Popen(  # noqa: S603
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "opus",
                    "worker",
                    "--beat",
                    "--pool=solo",
                    "--loglevel=INFO",
                    "-s",
                    str(BASE_DIR / ".data" / "celerybeat-schedule"),
                ],
                cwd=BASE_DIR,
                start_new_session=True,
            )
        )
        print(BANNER.format(url=f"http://{HOST}:{PORT}/"), flush=True)
        while not stopping:
            if any(child.poll() is not None for child in children):
                print("A process stopped; shutting everything down.", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.time() + 10
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if started_database:
            devdb.stop()
        print(
            "Stopped the web server, the worker"
            + (" and the database." if started_database else "."),
            flush=True,
        )
    return 0


BANNER = """
  Opus is running at {url}

  Demo logins (password for all: opus-demo-2026)
    owner      staff (also the Django admin)
    frontdesk  staff
    maria      practitioner (counselling; the third-party stories)
    james      practitioner
    priya      practitioner

  Sent emails are in "Sent mail" when logged in as staff.
  Press Ctrl-C to stop everything.
"""

if __name__ == "__main__":
    sys.exit(main())
