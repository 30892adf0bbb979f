"""A task run by a real Celery worker on a real broker (our own redis-server)."""

import time

import pytest

from opus.models import WorkerHeartbeat
from opus.tasks import heartbeat


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task(celery_worker_on_redis):
    result = heartbeat.delay("test-worker")
    deadline = time.time() + 15
    while (
        time.time() < deadline and not WorkerHeartbeat.objects.filter(name="test-worker").exists()
    ):
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.filter(name="test-worker").exists()
    assert result.id
