from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.capacity import no_date_left_over_capacity  # noqa: F401 (autouse)

# The transfer tests run on a Wednesday noon, whatever day the suite runs on: Ava's
# Monday session then has exactly four dates before the transfer date (next Monday);
# on a Monday, today's date would be a fifth. Time runs on from there (tick) for the
# tests with threads, and starts before any fixture logs anyone in.
WORLD_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture(autouse=True)
def _on_a_wednesday():
    with time_machine.travel(WORLD_NOW, tick=True):
        yield


@pytest.fixture
def world(staff, transfer_world):
    return transfer_world
