"""localstripe (a fake, stateful Stripe server on PyPI, with a stand-in Stripe.js)
as a subprocess on a free port, for the Stripe adapter's offline tests."""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

from tests.support.broker import free_port

WEBHOOK_SECRET = "whsec_opus_offline_tests"
SECRET_KEY = "sk_test_opus_offline"
PUBLISHABLE_KEY = "pk_test_opus_offline"


class LocalStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(self.port), "--from-scratch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("localstripe did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def signed(
    event: dict, *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, str]:
    """A webhook body and its Stripe-Signature header, signed as Stripe (and
    localstripe) sign them."""
    at = at or int(time.time())
    payload = json.dumps(event).encode()
    signature = hmac.new(secret.encode(), b"%d.%s" % (at, payload), hashlib.sha256).hexdigest()
    return payload, f"t={at},v1={signature}"


def configure(settings, server: LocalStripe) -> None:
    """Point Opus's Stripe settings at the localstripe server."""
    settings.OPUS_PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_JS_URL = f"{server.url}/js.stripe.com/v3/"
