import os
import shutil

import pytest
from django.db import connections
from django.test import TransactionTestCase

from devkit.models import SimulatedGatewayCard, SimulatedGatewayCharge, SimulatedGatewayRefund
from opus import practice as practices
from opus.models import User
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
    UserFactory,
)
from tests.support.broker import RedisServer, free_port, reset_celery_producers
from tests.support.transfer import build_world
from tests.support.web import logged_in

# The simulated gateway keeps its ledger through the "gateway" alias, its own
# connection (devkit/routers.py): every database test may reach it.
TransactionTestCase.databases = frozenset({"default", "gateway"})


@pytest.fixture(autouse=True)
def _gateway_ledger_emptied(django_db_blocker):
    """The gateway's ledger is written outside the test's transaction, as a real
    processor's would be, so the rollback keeps it: empty it after a test used it."""
    yield
    gateway = connections["gateway"]
    if gateway.connection is None:
        return
    with django_db_blocker.unblock():
        SimulatedGatewayRefund.objects.all().delete()
        SimulatedGatewayCharge.objects.all().delete()
        SimulatedGatewayCard.objects.all().delete()
    gateway.close()


@pytest.fixture(autouse=True)
def _practice_from_the_environment():
    """Each test starts with the practice as a fresh database has it (no row: the
    environment's values), held in the process's cache, so that reading it costs
    no query (and a change a previous test rolled back is not remembered)."""
    practices.forget(assume=practices.from_settings())
    yield
    practices.forget()


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", role=User.Role.STAFF, first_name="Sue", last_name="Staff")


@pytest.fixture
def therapist(db):
    return UserFactory(username="therapist", first_name="Tess", last_name="One")


@pytest.fixture
def other_therapist(db):
    return UserFactory(username="other", first_name="Otto", last_name="Two")


@pytest.fixture
def staff_client(staff):
    return logged_in(staff)


@pytest.fixture
def therapist_client(therapist):
    return logged_in(therapist)


@pytest.fixture
def other_client(other_therapist):
    return logged_in(other_therapist)


@pytest.fixture
def c2_world(other_therapist):
    """C2, a client of the other therapist only, with a sentinel name."""
    c2 = ClientFactory(first_name="Zebedee", last_name="Sentinelsson")
    session = SessionFactory(practitioner=other_therapist)
    relationship = RelationshipFactory(payer=c2)
    subscription = SubscriptionFactory(relationship=relationship, session=session)
    return {
        "client": c2,
        "session": session,
        "relationship": relationship,
        "subscription": subscription,
    }


@pytest.fixture
def transfer_world(therapist):
    """The transfer world (tests/support/transfer.py's build_world) of the therapist."""
    return build_world(therapist)


# --- a Redis of our own for broker tests: never the machine's -------------------
@pytest.fixture(scope="session")
def own_redis():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is required for the broker tests (Debian package redis-server)")
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


WORKER_QUEUE = "opus-test-worker"


@pytest.fixture(scope="session")
def _session_worker(own_redis, django_db_setup, django_db_blocker):
    """A real Celery worker (a thread, solo pool) on our own Redis, consuming only
    WORKER_QUEUE: tasks that other tests publish never reach it, so it cannot touch
    their rows (or deadlock with their flush) after they end."""
    from celery.contrib.testing.worker import start_worker

    from opus.celery import app

    app.conf.broker_url = own_redis.url
    app.conf.broker_transport_options = {"socket_connect_timeout": 1, "socket_timeout": 2}
    reset_celery_producers(app)  # a publish made earlier may have pooled another broker
    with (
        django_db_blocker.unblock(),
        start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=10,
            queues=[WORKER_QUEUE],
        ),
    ):
        yield app


@pytest.fixture
def celery_worker_on_redis(_session_worker):
    """The worker, for this test: what it publishes goes to the worker's queue. It
    sees only committed rows: tests that use it need django_db(transaction=True)."""
    app = _session_worker
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = WORKER_QUEUE
    yield app
    app.conf.task_default_queue = previous


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: nothing may be skipped silently."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; skips are failures in CI", red=True)
        session.exitstatus = 1
