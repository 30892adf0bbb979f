#!/bin/sh
# The whole suite on other dates (quality.md Reliability 16): a Sunday, 29 February,
# 31 December and a Monday by default, or the dates given ("2027-03-28" or
# "2027-03-28T23:30:00"). faketime fakes the clock of the whole process tree, the
# embedded PostgreSQL included (started here in a data folder of its own, so
# that it runs on the faked clock too). Slow: not part of `make test`.
#   sh tests/any_day.sh [DATE ...]        (make test-any-day)
set -u
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "faketime is missing: apt-get install -y faketime" >&2; exit 2; }
[ $# -gt 0 ] || set -- 2026-12-06 2028-02-29 2026-12-31 2026-11-30
unset DATABASE_URL FAKETIME_DONT_FAKE_MONOTONIC
export OPUS_DATA_DIR="$PWD/.data/any-day"
logs="$OPUS_DATA_DIR/logs"
mkdir -p "$logs"
failed=0
for day in "$@"; do
    case "$day" in *T*) at="$day" ;; *) at="${day}T10:00:00" ;; esac
    log="$logs/$at.log"
    started=$(date +%s)
    faketime -f "@$(echo "$at" | tr T ' ')" .venv/bin/python -m pytest -q >"$log" 2>&1
    code=$?
    [ "$code" -eq 0 ] || failed=1
    echo "$at ($(faketime -f "@$(echo "$at" | tr T ' ')" date +%A)): $(tail -n 1 "$log") [exit $code, $(($(date +%s) - started)) s wall, log: $log]"
done
exit $failed
