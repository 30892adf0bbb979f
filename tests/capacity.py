"""quality.md Reliability 14, checked after every test of the modules that call
the services: no coming session date is left over capacity. The conftests of
tests/transfer, tests/relationships and tests/pages use the fixture below."""

import pytest


@pytest.fixture(autouse=True)
def no_date_left_over_capacity(request):
    yield
    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
    } & set(request.fixturenames)
    if not uses_db:
        return
    from scheduling.selectors import overbooked_dates

    over = [
        f"{d.session.service.name} on {d.date}: {d.enrolled} for {d.session.capacity}"
        for d in overbooked_dates()
    ]
    assert not over, "left over capacity: " + "; ".join(over)
