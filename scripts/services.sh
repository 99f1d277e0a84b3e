#!/usr/bin/env bash
# The local services the tests use: Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432
# (trust auth, user postgres, database test). Each is started only when it does not answer, so
# running this twice (or by two scripts) is harmless. Called by .ci/run before the tests.
set -euo pipefail

wait_for() { # name, command: up to 10 s
  for _ in $(seq 1 100); do
    if eval "$2" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "services.sh: $1 did not come up" >&2
  return 1
}

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services.sh: starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis "redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG"
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "services.sh: starting PostgreSQL on 127.0.0.1:5432"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_for PostgreSQL "pg_isready -h 127.0.0.1 -p 5432 -q"
fi
# The tests' database; created once.
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -Atc 'create database test' >/dev/null
fi
echo "services.sh: Redis and PostgreSQL answer"
