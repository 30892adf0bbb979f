"""Another process reading the schedule: the staleness test's reader
(tests/pages/test_schedule_cache.py).

    python tests/support/schedule_reader.py   # env: READER_DB_NAME, READER_NOW

Django's test client against the test's database (committed rows) and the same
schedule cache, time standing still at READER_NOW as in the test. One JSON line
in, one out: {"user": username, "paths": [...]} answers, for each path (an htmx
request: the cached fragment itself), the page as served and the page rendered
with the cache off.
"""

import json
import os
import sys
from datetime import datetime
from pathlib import Path

import time_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opus.settings")
time_machine.travel(datetime.fromisoformat(os.environ["READER_NOW"]), tick=False).start()

import django  # noqa: E402
from django.conf import settings  # noqa: E402

for alias in ("default", "gateway"):
    if alias in settings.DATABASES:
        settings.DATABASES[alias]["NAME"] = os.environ["READER_DB_NAME"]
django.setup()

from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from opus import practice as practices  # noqa: E402
from opus.models import User  # noqa: E402


def main() -> None:
    setup_test_environment()
    browsers: dict[str, Client] = {}
    print("ready", flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        practices.forget()  # as a process would after its 30 seconds
        browser = browsers.get(ask["user"])
        if browser is None:
            browser = browsers[ask["user"]] = Client()
            browser.force_login(User.objects.get(username=ask["user"]))
        answers = []
        for path in ask["paths"]:
            served = browser.get(path, headers={"HX-Request": "true"})
            with override_settings(SCHEDULE_CACHE=False):
                fresh = browser.get(path, headers={"HX-Request": "true"})
            answers.append(
                {
                    "status": served.status_code,
                    "served": served.content.decode(),
                    "fresh": fresh.content.decode(),
                }
            )
        print(json.dumps(answers), flush=True)


if __name__ == "__main__":
    main()
