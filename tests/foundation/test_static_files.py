"""Static files in the production shape: collected with hashed names, served by
whitenoise compressed (brotli or gzip) and cached for a year, immutable."""

import json
import subprocess
import sys

from tests.support.deployment import PRODUCTION, ROOT, clean_env

SERVE = """
import json, django
django.setup()
from django.templatetags.static import static
from django.test import Client
client = Client(HTTP_HOST="opus.example.com")
found = {}
for name in ["css/opus.css", "js/opus.js"]:
    url = static(name)
    for encoding in ["br", "gzip"]:
        response = client.get(url, secure=True, HTTP_ACCEPT_ENCODING=encoding)
        found[f"{name} {encoding}"] = {
            "url": url,
            "status": response.status_code,
            "encoding": response.get("Content-Encoding", ""),
            "cache": response.get("Cache-Control", ""),
        }
print(json.dumps(found))
"""


def test_static_files_are_hashed_compressed_and_cached_for_a_year(tmp_path):
    env = clean_env(
        **PRODUCTION,
        DATABASE_URL="postgres://u:p@db:5432/opus",
        STATIC_ROOT=str(tmp_path),
        DJANGO_SETTINGS_MODULE="opus.settings",
    )
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collect.returncode == 0, collect.stderr
    served = subprocess.run(
        [sys.executable, "-c", SERVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 0, served.stderr
    found = json.loads(served.stdout.strip().splitlines()[-1])
    for key, answer in found.items():
        name, encoding = key.split()
        stem = name.rsplit(".", 1)[0]
        assert answer["url"].startswith(f"/static/{stem}.") and answer["url"] != f"/static/{name}"
        assert answer["status"] == 200, (key, answer)
        assert answer["encoding"] == encoding, (key, answer)
        assert "max-age=315360000" in answer["cache"] and "immutable" in answer["cache"], answer
