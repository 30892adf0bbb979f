"""Benchmark of the staff pages: gunicorn on loopback, the large demo practice, wrk.

    make bench                      # or: .venv/bin/python bench/run.py --seconds 5 --rounds 2

The large practice lives in its own data folder (.data/bench), so the
development database is untouched. gunicorn runs the production way (2 sync
workers, DEBUG off, persistent database connections through DATABASE_URL) on a
free port of 127.0.0.1; nothing is sent anywhere else. Each page is measured
against a trivial logged-in page of the same app (same middleware, same base
template: the "password changed" page), A and B alternating, and reported as a
ratio of throughput, with its 95th percentile latency at 4 connections.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data" / "bench"
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
USER, PASSWORD = "frontdesk", "opus-demo-2026"  # the documented demo login (staff: sees all)
CONNECTIONS = 4
TARGETS = {  # minimum share of the trivial page's throughput
    "schedule week": 0.08,
    "client profile": 0.20,
    "clients search fragment": 0.40,
}
P95_LIMIT_MS = 100.0

LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.3f %.3f %.3f %d %d\\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    summary.requests, e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_environment() -> tuple[dict, bool]:
    """Start (or attach to) the bench's embedded PostgreSQL; return the environment
    of every process of the run, and whether this run started the server."""
    os.environ["OPUS_DATA_DIR"] = str(DATA_DIR)
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    from devkit import devdb

    url = devdb.ensure_running()
    if not os.environ.get("REDIS_URL"):
        devdb.ensure_broker_folders()
    env = {
        **os.environ,
        "OPUS_DATA_DIR": str(DATA_DIR),
        "DATABASE_URL": url,
        "OPUS_ENV": "development",  # no HTTPS redirect on loopback ...
        "DEBUG": "0",  # ... but otherwise the production way
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "opus.settings",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env, devdb.started_here


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def pick_objects(env: dict) -> dict:
    """Ids of a busy coming session date and of the client with the most on their profile."""
    code = (
        "import json; from django.db.models import Count; from django.utils import timezone;"
        "from scheduling.models import Session, SessionDate; from clients.models import Client;"
        "s = Session.objects.annotate(n=Count('subscriptions')).order_by('-n', 'pk').first();"
        "d = SessionDate.objects.filter(session=s, date__gte=timezone.localdate())"
        ".order_by('date').first();"
        "c = Client.objects.annotate(i=Count('invoices', distinct=True), "
        "s=Count('subscriptions', distinct=True)).order_by('-i', '-s', 'pk').first();"
        "print(json.dumps({'date': d.pk, 'client': c.pk}))"
    )
    out = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_gunicorn(env: dict, port: int, control_dir: str) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "opus.wsgi:application",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--control-socket",
            os.path.join(control_dir, "gunicorn.ctl"),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start in time")


def log_in(base: str) -> str:
    """Log in through the login form; return the Cookie header of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{base}/login/", data=data, headers={"Referer": f"{base}/login/"}
    )
    response = opener.open(request)
    if "/login/" in response.geturl():
        raise RuntimeError("could not log in to the bench server")
    cookies = {cookie.name: cookie.value for cookie in jar}
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def check_page(base: str, path: str, cookie: str, headers: dict) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        f"{base}{path}", headers={"Cookie": cookie, **headers}
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        if "/login/" in response.geturl() or response.status != 200:
            raise RuntimeError(f"{path} answered {response.status} at {response.geturl()}")
        return len(response.read())


def wrk(base: str, path: str, cookie: str, headers: dict, seconds: float, lua: str) -> dict:
    command = [
        shutil.which("wrk"),
        "-t2",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        lua,
        "-H",
        f"Cookie: {cookie}",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(  # noqa: S603
        [*command, f"{base}{path}"], capture_output=True, text=True, check=True
    ).stdout
    fields = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+) (\d+)", out).groups()
    rps, p50, p95, requests, errors = fields
    return {
        "rps": float(rps),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "requests": int(requests),
        "errors": int(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4, help="per measurement (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs per page (default 2)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install -y wrk", file=sys.stderr)
        return 2

    env, started_here = setup_environment()
    gunicorn = None
    control_dir = tempfile.mkdtemp(prefix="opus-bench-")
    try:
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(env, "createcachetable")
        print("Loading the large demo practice (only the first time) ...", flush=True)
        manage(env, "seed_demo", "--size", "large")
        ids = pick_objects(env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        gunicorn = start_gunicorn(env, port, control_dir)
        cookie = log_in(base)
        hx = {"HX-Request": "true"}
        trivial = ("trivial page", "/password/done/", {})
        pages = [
            ("schedule week", "/schedule/", {}),
            ("calendar day (practitioners)", "/schedule/?view=day", {}),
            ("calendar day (rooms)", "/schedule/?view=day&across=room", {}),
            ("schedule month", "/schedule/?view=month", {}),
            ("today", "/", {}),
            ("quick search fragment", "/search/?q=ava", hx),
            ("session-date view", f"/schedule/dates/{ids['date']}/", {}),
            ("clients list", "/clients/", {}),
            ("clients search fragment", "/clients/?q=ava", hx),
            ("client profile", f"/clients/{ids['client']}/", {}),
        ]
        lua = os.path.join(control_dir, "report.lua")
        Path(lua).write_text(LUA)
        sizes = {name: check_page(base, path, cookie, h) for name, path, h in [trivial, *pages]}
        for _, path, headers in [trivial, *pages]:  # warm up both workers
            wrk(base, path, cookie, headers, 1, lua)

        rows = []
        load_before = os.getloadavg()[0]
        for name, path, headers in pages:
            a_runs, b_runs = [], []
            for _ in range(args.rounds):
                a_runs.append(wrk(base, trivial[1], cookie, {}, args.seconds, lua))
                b_runs.append(wrk(base, path, cookie, headers, args.seconds, lua))
            a_rps = sum(r["rps"] for r in a_runs) / len(a_runs)
            b_rps = sum(r["rps"] for r in b_runs) / len(b_runs)
            rows.append(
                {
                    "page": name,
                    "path": path,
                    "bytes": sizes[name],
                    "rps": b_rps,
                    "trivial_rps": a_rps,
                    "ratio": b_rps / a_rps,
                    "target": TARGETS.get(name),
                    "p50_ms": max(r["p50_ms"] for r in b_runs),
                    "p95_ms": max(r["p95_ms"] for r in b_runs),
                    "trivial_p95_ms": max(r["p95_ms"] for r in a_runs),
                    "errors": sum(r["errors"] for r in a_runs + b_runs),
                }
            )
            print(f"  measured {name}", flush=True)
        print_table(rows, args)
        print(
            f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
            f"on {os.cpu_count()} cores: other processes on the machine inflate latencies"
        )
        RESULTS.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(rows, indent=2))
        met = all(
            (r["target"] is None or r["ratio"] >= r["target"])
            and r["p95_ms"] < P95_LIMIT_MS
            and r["errors"] == 0
            for r in rows
        )
        return 0 if met else 1
    finally:
        if gunicorn is not None and gunicorn.poll() is None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            try:
                gunicorn.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(gunicorn.pid, signal.SIGKILL)
                gunicorn.wait()
        shutil.rmtree(control_dir, ignore_errors=True)
        if started_here:
            from devkit import devdb

            devdb.stop()


def print_table(rows: list[dict], args) -> None:
    print()
    print(
        f"gunicorn 2 sync workers, wrk {CONNECTIONS} connections, "
        f"{args.rounds} x {args.seconds:g} s per page and per trivial page, alternating"
    )
    header = (
        f"{'page':<25} {'req/s':>8} {'trivial':>8} {'ratio':>7} {'target':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'KiB':>6}  ok"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        target = f"{r['target']:.0%}" if r["target"] else "-"
        ok = (r["target"] is None or r["ratio"] >= r["target"]) and r["p95_ms"] < P95_LIMIT_MS
        print(
            f"{r['page']:<25} {r['rps']:>8.0f} {r['trivial_rps']:>8.0f} {r['ratio']:>7.1%} "
            f"{target:>7} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['bytes'] / 1024:>6.1f}  "
            f"{'yes' if ok and not r['errors'] else 'NO'}"
        )
    print(f"(p95 limit {P95_LIMIT_MS:.0f} ms on every page; errors must be 0)")


if __name__ == "__main__":
    sys.exit(main())
