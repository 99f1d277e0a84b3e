#!/usr/bin/env bash
# Makes sure the local Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, database `test`)
# that the tests use answer, starting them when they are down, and waits until they do.
# Exits non-zero, saying which and why, when one cannot be started. Called by .ci/run before
# `bun test`; safe to run again (does nothing when both answer).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi }

wait_for() { # name, command: polls the command for up to 30 s
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "services: $name answers"; return 0; fi
    sleep 0.5
  done
  echo "services: $name does not answer after 30 s" >&2
  return 1
}

# Redis
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || { echo "services: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
  echo "services: starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log \
    || { echo "services: redis-server failed to start (see /var/log/redis/ci.log)" >&2; exit 1; }
fi
wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping

# PostgreSQL
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] \
    || { echo "services: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "services: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start \
    || { echo "services: pg_ctlcluster failed to start PostgreSQL" >&2; exit 1; }
fi
wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
# The tests' database: trust auth for user postgres on 127.0.0.1, database `test`.
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -Atc 'create database test' >/dev/null 2>&1 \
    || { echo "services: PostgreSQL answers but postgres@127.0.0.1/test does not (trust auth, database test)" >&2; exit 1; }
fi
echo "services: Redis and PostgreSQL answer"
