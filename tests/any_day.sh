#!/bin/sh
# The whole suite on other days (quality.md Reliability 16): by default a Sunday,
# 29 February, 31 December, a Monday, and a summer night (23:30 UTC is already the
# next day in London), or the instants given, in UTC ("2027-03-28" means 10:00, or
# "2027-03-28T23:30:00"). faketime moves the clock of the whole process tree, the
# embedded PostgreSQL included (started in a data folder of its own, so that it
# runs on the moved clock too). Slow: not part of `make test`.
#   sh tests/any_day.sh [INSTANT ...]        (make test-any-day DATES="...")
set -u
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "faketime is missing: apt-get install -y faketime" >&2; exit 2; }
[ $# -gt 0 ] || set -- 2026-12-06 2028-02-29 2026-12-31 2026-11-30 2027-06-30T23:30:00
unset DATABASE_URL FAKETIME_DONT_FAKE_MONOTONIC
export OPUS_DATA_DIR="$PWD/.data/any-day"
logs="$OPUS_DATA_DIR/logs"
mkdir -p "$logs"
failed=0
for day in "$@"; do
    case "$day" in *T*) at="$day" ;; *) at="${day}T10:00:00" ;; esac
    # an offset from now, not an absolute time: every process reads it the same,
    # whatever its TZ (Django sets TZ to the practice's zone for its children)
    offset=$(($(TZ=UTC date -d "$(echo "$at" | tr T ' ')" +%s) - $(date +%s)))
    log="$logs/$at.log"
    started=$(date +%s)
    faketime -f "+$offset" .venv/bin/python -m pytest -q >"$log" 2>&1
    code=$?
    [ "$code" -eq 0 ] || failed=1
    echo "$at UTC ($(TZ=UTC date -d "$(echo "$at" | tr T ' ')" +%A)): $(tail -n 1 "$log") [exit $code, $(($(date +%s) - started)) s wall, log: $log]"
    grep -E "^(FAILED|ERROR) " "$log" | sed 's/^/    /'
done
exit $failed
