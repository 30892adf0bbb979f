"""A Redis of our own for broker and cache tests, never the machine's, and the
Celery app pointed at it."""

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self) -> None:
        # redis-server cannot start under libfaketime (tests/any_day.sh runs the
        # suite under faketime): it keeps the real clock, which no test reads.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def reset_celery_producers(app) -> None:
    """Forget pooled broker connections, so the next publish uses app.conf as it is now."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_at(url: str):
    """Point the Celery app at another broker (with production's Redis options)
    for the block, then put everything back."""
    from django.conf import settings

    from opus.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    reset_celery_producers(app)
    app.conf.broker_url = url
    app.conf.broker_transport_options = dict(settings.REDIS_BROKER_OPTIONS)
    try:
        yield app
    finally:
        reset_celery_producers(app)
        app.conf.broker_url, app.conf.broker_transport_options = saved
