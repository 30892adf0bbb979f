"""The card link keeps working while the cache (Redis) is down or hung: the
limiter fails open, with a warning that names no one, never a 500."""

import logging
import os
import signal
import time

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from billing.models import PaymentMethod
from tests.factories import ClientFactory
from tests.support.billing import card_post, link, make_card_request
from tests.support.broker import RedisServer, free_port
from tests.support.deployment import production_settings

pytestmark = pytest.mark.django_db

ADDRESS = "192.0.2.44"


@pytest.fixture
def redis_cache():
    """A Redis of this test's own (it gets killed or frozen), as the cache, with
    production's options."""
    server = RedisServer(free_port())
    server.start()
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    try:
        with override_settings(CACHES=caches):
            yield server
    finally:
        if server.process and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def live():
    return make_card_request(ClientFactory(first_name="Ada"))[1]


def visitor():
    return HttpClient(REMOTE_ADDR=ADDRESS, raise_request_exception=False)


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_the_link_works(live, caplog):
    client = visitor()
    page, seconds = timed(lambda: client.get(link(live)))
    assert page.status_code == 200 and seconds < 5
    unknown, seconds = timed(lambda: client.get(link("U" * 43)))
    assert unknown.status_code == 404 and seconds < 5
    declined, seconds = timed(lambda: client.post(link(live), card_post("4000000000000002")))
    assert declined.status_code == 200 and "declined" in declined.content.decode()
    assert seconds < 8
    done, seconds = timed(lambda: client.post(link(live), card_post()))
    assert done.status_code == 200 and "<h1>Thank you, Ada</h1>" in done.content.decode()
    assert seconds < 5
    assert PaymentMethod.objects.count() == 1

    warnings = [r for r in caplog.records if r.name == "opus.lib.ratelimit"]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "not limiting" in logged
    for secret in (live, "U" * 43, ADDRESS, "4242424242424242"):
        assert secret not in logged


def test_the_limiter_counts_on_the_redis_cache_while_it_is_up(redis_cache, live):
    client = visitor()
    codes = [client.get(link(f"{i:02d}" + "R" * 41)).status_code for i in range(11)]
    assert codes == [404] * 10 + [429]
    assert client.get(link(live)).status_code == 200


def test_the_link_works_while_redis_is_down(redis_cache, live, caplog):
    visitor().get(link("W" * 43))  # the pool holds a connection to the live server
    redis_cache.stop()
    assert_the_link_works(live, caplog)


def test_the_link_works_while_redis_is_hung(redis_cache, live, caplog):
    visitor().get(link("W" * 43))
    os.kill(redis_cache.process.pid, signal.SIGSTOP)
    assert_the_link_works(live, caplog)


def test_production_cache_gives_up_after_a_second():
    printed = production_settings("s.CACHES['default']['OPTIONS']")
    assert printed == "{'socket_connect_timeout': 1, 'socket_timeout': 1}"
