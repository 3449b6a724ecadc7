#!/usr/bin/env bash
# Start what the test suite needs when it is not running: PostgreSQL on 127.0.0.1:5432.
set -euo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 30); do
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL is not reachable at 127.0.0.1:5432; the store tests need it" >&2
exit 1
