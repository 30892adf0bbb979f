import pytest
from django.core.cache import cache

from tests.factories import RelationshipFactory, SubscriptionFactory


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request):
    """Counters live in the cache (the database cache table, which a test's
    rollback or flush does not empty). Only for tests that may use the database."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def relationship():
    return RelationshipFactory()


@pytest.fixture
def subscription():
    return SubscriptionFactory()
